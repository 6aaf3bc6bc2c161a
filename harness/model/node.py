"""Node configuration snapshot: what the NC policies decide over.

Reads a node's Kubernetes configuration under a root directory (/ on a real node, a
fixture tree in tests) into one JSON-able document. Missing or unreadable files are
facts in the snapshot, never crashes: a policy can then deny "manifest missing".
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from harness.model import yamlfile

STATIC_PODS = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler")
MANIFEST_DIR = "etc/kubernetes/manifests"
KUBELET_CONFIG = "var/lib/kubelet/config.yaml"
SYSTEM_KUBECONFIG_DIR = "etc/kubernetes"
PASSWD = "etc/passwd"


def collect(root: Path) -> dict[str, Any]:
    root = Path(root)
    users = read_passwd(root)
    static_pods = {name: static_pod(root, name) for name in STATIC_PODS}
    return {
        "root": str(root),
        "static_pods": static_pods,
        "kubelet_config": kubelet_config(root),
        "kubeconfigs": kubeconfigs(root, users),
        "encryption_config": encryption_config(
            root, static_pods["kube-apiserver"]["flags"].get("encryption-provider-config", "")
        ),
    }


def static_pod(root: Path, name: str) -> dict[str, Any]:
    rel = f"{MANIFEST_DIR}/{name}.yaml"
    entry: dict[str, Any] = {"path": rel, "present": False, "flags": {}, "flag_values": {}}
    path = root / rel
    if not path.is_file():
        return entry
    entry["present"] = True
    try:
        doc = yamlfile.load(path.read_text(encoding="utf-8"))
        container = doc["spec"]["containers"][0]
        argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError) as exc:
        entry["error"] = " ".join(str(exc).split())[:200] or type(exc).__name__
        return entry
    entry["command"] = argv
    entry["flags"], entry["flag_values"] = parse_flags(
        argv[1:] if argv and not argv[0].startswith("-") else argv
    )
    return entry


def parse_flags(args: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """--flag=value, --flag value, bare --flag (true); repeated flags and comma lists.

    flags maps each flag to its last value (what the component uses); flag_values holds
    every value of every occurrence, comma lists split, in order.
    """
    flags: dict[str, str] = {}
    values: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if not token.startswith("-"):
            continue
        name, eq, value = token.lstrip("-").partition("=")
        if not eq:
            if i < len(args) and not args[i].startswith("-"):
                value = args[i]
                i += 1
            else:
                value = "true"
        flags[name] = value
        values.setdefault(name, []).extend(v.strip() for v in value.split(",") if v.strip())
    return flags, values


def kubelet_config(root: Path) -> dict[str, Any]:
    return config_file(root, KUBELET_CONFIG)


def config_file(root: Path, path: str) -> dict[str, Any]:
    """A YAML config file under root: present or not, its content or why it is unreadable."""
    file = root / path.lstrip("/")
    entry: dict[str, Any] = {"path": path, "present": file.is_file()}
    if entry["present"]:
        try:
            entry["config"] = yamlfile.load(file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            entry["error"] = " ".join(str(exc).split())[:200]
    return entry


def encryption_config(root: Path, path: str) -> dict[str, Any]:
    """The EncryptionConfiguration kube-apiserver's flag names, read under root: which
    provider writes Secrets is in the file, not in the flag (NSA-2.7, CIS-5.4.2)."""
    if not path:
        return {"path": path, "present": False}
    return config_file(root, path)


def read_passwd(root: Path) -> list[dict[str, Any]]:
    """Users from the passwd file under root (not the host's), name, uid, gid and home."""
    users: list[dict[str, Any]] = []
    try:
        lines = (root / PASSWD).read_text(encoding="utf-8").splitlines()
    except OSError:
        return users
    for line in lines:
        parts = line.split(":")
        if len(parts) < 7 or line.startswith("#"):
            continue
        try:
            users.append(
                {"name": parts[0], "uid": int(parts[2]), "gid": int(parts[3]), "home": parts[5]}
            )
        except ValueError:
            continue
    return users


def kubeconfigs(root: Path, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """etc/kubernetes/*.conf (owned by root) and each user's ~/.kube/config (owned by them):
    file facts, and who each credential is (client_identities)."""
    found = []
    system_dir = root / SYSTEM_KUBECONFIG_DIR
    if system_dir.is_dir():
        for path in sorted(system_dir.glob("*.conf")):
            found.append(file_facts(root, path, owner_name="root", owner_uid=0))
    for user in users:
        home = user["home"].lstrip("/")
        path = root / home / ".kube" / "config"
        if path.exists():
            found.append(file_facts(root, path, owner_name=user["name"], owner_uid=user["uid"]))
    for facts in found:
        facts.update(client_identities(root, root / facts["path"]))
    return found


def client_identities(root: Path, path: Path) -> dict[str, Any]:
    """{"users": [{name, certificate, organizations | error}]} for each kubeconfig user
    with a client certificate, read as client-go reads it (inline data wins over a file,
    a relative file is relative to the kubeconfig), or {"config_error": why}."""
    from harness.model.certs import CertificateError, leaf_organizations

    try:
        config = yamlfile.load(path.read_text(encoding="utf-8")) or {}
        entries = [(str(u.get("name", "")), u.get("user") or {}) for u in config.get("users") or []]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError, TypeError) as exc:
        return {"config_error": " ".join(str(exc).split())[:200] or type(exc).__name__}
    found = []
    for name, user in entries:
        if not isinstance(user, dict):
            continue
        data, file = user.get("client-certificate-data"), user.get("client-certificate")
        if not data and not file:
            continue  # a token, exec plugin or auth provider: no certificate to read
        entry: dict[str, Any] = {"name": name, "certificate": "inline" if data else str(file)}
        try:
            pem = base64.b64decode(str(data), validate=True) if data else _under(root, path, file)
            entry["organizations"] = leaf_organizations(pem)
        except (OSError, binascii.Error, CertificateError) as exc:
            entry["error"] = " ".join(str(exc).split())[:200] or type(exc).__name__
        found.append(entry)
    return {"users": found}


def _under(root: Path, kubeconfig: Path, file: Any) -> bytes:
    """A certificate file a kubeconfig names, under root (relative: to the kubeconfig)."""
    name = str(file)
    target = root / name.lstrip("/") if name.startswith("/") else kubeconfig.parent / name
    return target.read_bytes()


def file_facts(root: Path, path: Path, owner_name: str, owner_uid: int) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "path": str(path.relative_to(root)),
        "expected_owner": owner_name,
        "expected_uid": owner_uid,
    }
    try:
        st = os.stat(path)
    except OSError as exc:
        facts["error"] = exc.strerror
        return facts
    facts.update(
        uid=st.st_uid,
        gid=st.st_gid,
        mode=format(stat.S_IMODE(st.st_mode), "04o"),
        mode_bits=stat.S_IMODE(st.st_mode),
    )
    return facts
