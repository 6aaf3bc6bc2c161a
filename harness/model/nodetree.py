"""Node fixture trees: a kubeadm-like control-plane node described as data (kind
NodeTree in a fixture file), materialized under a temporary root and collected into a
snapshot the NC policies decide over.

A tree starts from a baseline (`hardened`: compliant with every NC policy, or `kubeadm`:
what `kubeadm init` writes) and applies edits: flags set or unset per static pod, the
EncryptionConfiguration the encryption flag names (`encryption_config`),
manifests removed or corrupted, file owners and modes changed, dangling links added.
"""

from __future__ import annotations

import base64
import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError
from harness.model.node import MANIFEST_DIR, collect

NODE_TREE = "NodeTree"
USERS = {
    "root": (0, 0, "/root"),
    "alice": (1000, 1000, "/home/alice"),
    "bob": (1001, 1001, "/home/bob"),
}
_EDIT_KEYS = {
    "apiVersion",
    "kind",
    "metadata",
    "base",
    "static_pods",
    "files",
    "remove",
    "corrupt",
    "links",
    "encryption_config",
    "certificates",
}

PKI = "/etc/kubernetes/pki"
KUBEADM_FLAGS: dict[str, dict[str, str]] = {
    "kube-apiserver": {
        "advertise-address": "10.0.0.10",
        "allow-privileged": "true",
        "authorization-mode": "Node,RBAC",
        "client-ca-file": f"{PKI}/ca.crt",
        "enable-admission-plugins": "NodeRestriction",
        "enable-bootstrap-token-auth": "true",
        "etcd-cafile": f"{PKI}/etcd/ca.crt",
        "etcd-certfile": f"{PKI}/apiserver-etcd-client.crt",
        "etcd-keyfile": f"{PKI}/apiserver-etcd-client.key",
        "etcd-servers": "https://127.0.0.1:2379",
        "kubelet-client-certificate": f"{PKI}/apiserver-kubelet-client.crt",
        "kubelet-client-key": f"{PKI}/apiserver-kubelet-client.key",
        "secure-port": "6443",
        "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
        "service-account-key-file": f"{PKI}/sa.pub",
        "service-account-signing-key-file": f"{PKI}/sa.key",
        "service-cluster-ip-range": "10.96.0.0/12",
        "tls-cert-file": f"{PKI}/apiserver.crt",
        "tls-private-key-file": f"{PKI}/apiserver.key",
    },
    "etcd": {
        "advertise-client-urls": "https://10.0.0.10:2379",
        "cert-file": f"{PKI}/etcd/server.crt",
        "client-cert-auth": "true",
        "data-dir": "/var/lib/etcd",
        "key-file": f"{PKI}/etcd/server.key",
        "listen-client-urls": "https://127.0.0.1:2379,https://10.0.0.10:2379",
        "peer-cert-file": f"{PKI}/etcd/peer.crt",
        "peer-client-cert-auth": "true",
        "peer-key-file": f"{PKI}/etcd/peer.key",
        "trusted-ca-file": f"{PKI}/etcd/ca.crt",
    },
    "kube-controller-manager": {
        "authentication-kubeconfig": "/etc/kubernetes/controller-manager.conf",
        "authorization-kubeconfig": "/etc/kubernetes/controller-manager.conf",
        "kubeconfig": "/etc/kubernetes/controller-manager.conf",
        "use-service-account-credentials": "true",
    },
    "kube-scheduler": {
        "authentication-kubeconfig": "/etc/kubernetes/scheduler.conf",
        "authorization-kubeconfig": "/etc/kubernetes/scheduler.conf",
        "kubeconfig": "/etc/kubernetes/scheduler.conf",
    },
}

# What a hardened node adds on top of kubeadm's defaults.
HARDENING: dict[str, str] = {
    "anonymous-auth": "false",
    "encryption-provider-config": "/etc/kubernetes/enc/encryption.yaml",
    "enable-admission-plugins": "NodeRestriction,ImagePolicyWebhook",
    "admission-control-config-file": "/etc/kubernetes/admission/config.yaml",
    "audit-policy-file": "/etc/kubernetes/audit/policy.yaml",
    "audit-log-path": "/var/log/kubernetes/audit.log",
    "audit-log-maxsize": "100",
    "audit-log-maxbackup": "10",
    "audit-log-maxage": "30",
}

# What the hardened node's --encryption-provider-config holds: Secrets written through a
# KMS v2 plugin, older data still readable with a local key.
ENCRYPTION_CONFIG: dict[str, Any] = {
    "apiVersion": "apiserver.config.k8s.io/v1",
    "kind": "EncryptionConfiguration",
    "resources": [
        {
            "resources": ["secrets"],
            "providers": [
                {
                    "kms": {
                        "apiVersion": "v2",
                        "name": "vault",
                        "endpoint": "unix:///var/run/kms-plugin/socket.sock",
                    }
                },
                {"aescbc": {"keys": [{"name": "key1", "secret": "c2VjcmV0IGlzIHNlY3VyZQ=="}]}},
                {"identity": {}},
            ],
        }
    ],
}

KUBECONFIGS = {
    "etc/kubernetes/admin.conf": "root",
    "etc/kubernetes/super-admin.conf": "root",
    "etc/kubernetes/controller-manager.conf": "root",
    "etc/kubernetes/scheduler.conf": "root",
    "etc/kubernetes/kubelet.conf": "root",
    "home/alice/.kube/config": "alice",
}


# Whose client certificate each kubeconfig holds (kubeadm v1.29 on), by name in
# scenarios/node-certificates.yaml; a path that is no kubeconfig gets the PEM itself.
# kubelet.conf names its rotating certificate's file, as kubeadm writes it.
KUBELET_CLIENT_PEM = "var/lib/kubelet/pki/kubelet-client-current.pem"
CERTIFICATES = {
    "etc/kubernetes/admin.conf": "kubernetes-admin",
    "etc/kubernetes/super-admin.conf": "kubernetes-super-admin",
    "etc/kubernetes/controller-manager.conf": "controller-manager",
    "etc/kubernetes/scheduler.conf": "scheduler",
    "home/alice/.kube/config": "kubernetes-admin",
    KUBELET_CLIENT_PEM: "kubelet",
}
CERTIFICATE_FILES = {"etc/kubernetes/kubelet.conf": "/" + KUBELET_CLIENT_PEM}
CERTIFICATES_FILE = "node-certificates.yaml"


def certificate_corpus() -> dict[str, str]:
    """PEM by name (tests/oracles/certs.py writes the file)."""
    from harness import paths
    from harness.model.yamlfile import read_yaml

    path = paths.scenarios_dir() / CERTIFICATES_FILE
    return (read_yaml(path, "node certificates not found") or {}).get("certificates") or {}


def kubeconfig_text(path: str, pem: str | None) -> str:
    """A kubeconfig with one user: the certificate inline, by file, or none."""
    if pem is not None:
        user = {"client-certificate-data": base64.b64encode(pem.encode()).decode()}
    elif path in CERTIFICATE_FILES:
        user = {"client-certificate": CERTIFICATE_FILES[path]}
    else:
        user = {}
    name = Path(path).stem
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubernetes", "cluster": {"server": "https://10.0.0.10:6443"}}],
        "contexts": [{"name": name, "context": {"cluster": "kubernetes", "user": name}}],
        "current-context": name,
        "users": [{"name": name, "user": user}],
    }
    return yaml.safe_dump(config, sort_keys=False)


def baseline_flags(base: str) -> dict[str, dict[str, str]]:
    flags = copy.deepcopy(KUBEADM_FLAGS)
    if base == "hardened":
        flags["kube-apiserver"].update(HARDENING)
    elif base != "kubeadm":
        raise HarnessError(f"unknown NodeTree base {base!r} (hardened or kubeadm)")
    return flags


def materialize(spec: dict[str, Any], root: Path) -> list[str]:
    """Write the tree under root. Returns what could not be applied (ownership as non-root)."""
    unknown = set(spec) - _EDIT_KEYS
    if unknown:
        raise HarnessError(f"NodeTree: unknown key(s) {', '.join(sorted(unknown))}")
    flags = baseline_flags(spec.get("base", "hardened"))
    for component, edit in (spec.get("static_pods") or {}).items():
        if component not in flags:
            raise HarnessError(f"NodeTree: unknown static pod {component!r}")
        flags[component].update({k: str(v) for k, v in (edit.get("set") or {}).items()})
        for name in edit.get("unset") or []:
            flags[component].pop(name, None)
    for component, component_flags in flags.items():
        _write_manifest(root, component, component_flags)
    encryption_path = flags["kube-apiserver"].get("encryption-provider-config", "")
    if encryption_path:
        config = spec.get("encryption_config", ENCRYPTION_CONFIG)
        _write(root / encryption_path.lstrip("/"), yaml.safe_dump(config, sort_keys=False))
    _write(
        root / "var/lib/kubelet/config.yaml",
        yaml.safe_dump(
            {
                "apiVersion": "kubelet.config.k8s.io/v1beta1",
                "kind": "KubeletConfiguration",
                "authentication": {"anonymous": {"enabled": False}},
                "authorization": {"mode": "Webhook"},
            }
        ),
    )
    _write(
        root / "etc/passwd",
        "".join(
            f"{name}:x:{uid}:{gid}::{home}:/bin/sh\n" for name, (uid, gid, home) in USERS.items()
        ),
    )
    files = {path: {"owner": owner, "mode": "0600"} for path, owner in KUBECONFIGS.items()}
    for path, edit in (spec.get("files") or {}).items():
        files.setdefault(path, {"owner": "root", "mode": "0600"}).update(edit)
    corpus = certificate_corpus()
    certificates = {**CERTIFICATES, **(spec.get("certificates") or {})}
    unknown_certificates = sorted(set(certificates.values()) - set(corpus))
    if unknown_certificates:
        raise HarnessError(f"NodeTree: unknown certificate(s) {', '.join(unknown_certificates)}")
    for path, name in certificates.items():
        if path not in files:
            _write(root / path, corpus[name])
    problems = []
    for path, facts in files.items():
        target = root / path
        name = certificates.get(path)
        _write(target, kubeconfig_text(path, corpus[name] if name else None))
        target.chmod(int(str(facts.get("mode", "0600")), 8))
        uid, gid, _ = USERS[facts.get("owner", "root")]
        try:
            os.chown(target, uid, gid)
        except PermissionError:
            problems.append(f"{path}: cannot set owner {facts.get('owner')} without root")
    for path in spec.get("remove") or []:
        (root / path).unlink(missing_ok=True)
    for path in spec.get("corrupt") or []:
        _write(root / path, "spec: [unclosed\n")
    for path, target in (spec.get("links") or {}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).symlink_to(target)
    return problems


def _write_manifest(root: Path, component: str, flags: dict[str, str]) -> None:
    command = [component] + [f"--{k}={v}" for k, v in sorted(flags.items())]
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": component, "namespace": "kube-system"},
        "spec": {
            "hostNetwork": True,
            "containers": [
                {
                    "name": component,
                    "image": f"registry.k8s.io/{component}:v1.37.2",
                    "command": command,
                }
            ],
        },
    }
    _write(root / MANIFEST_DIR / f"{component}.yaml", yaml.safe_dump(manifest, sort_keys=False))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def can_materialize() -> bool:
    """Trees set file owners (root, alice, bob): that takes root."""
    return os.geteuid() == 0


def snapshot(spec: dict[str, Any]) -> dict[str, Any]:
    """Materialize the tree in a temporary directory, collect it, remove the directory."""
    root = Path(tempfile.mkdtemp(prefix="pac-harness-node-"))
    try:
        problems = materialize(spec, root)
        snap = collect(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    snap["root"] = "/"  # the temporary path is an artefact, not a fact about the node
    if problems:
        snap["materialize_problems"] = problems
    return snap
