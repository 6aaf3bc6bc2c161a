"""The admin-owned configuration document (data.config in the policy engine)."""

from __future__ import annotations

import copy
import ipaddress
import re
from pathlib import Path
from typing import Any

from harness import paths
from harness.errors import HarnessError
from harness.model.yamlfile import read_yaml

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def load_config(override: Path | None = None) -> dict[str, Any]:
    """The default document with the user's file merged over it (maps merge, lists replace),
    checked against the schema; an error names the file and the key."""
    config = _read(paths.default_config_file())
    source = paths.default_config_file()
    if override is not None:
        config = _merge(config, _read(override))
        source = override
    problem = schema_problem(config)
    if problem:
        raise HarnessError(f"{source}: {problem}")
    if config.get("exemptions"):
        # Policies look exemptions up by the exact id; ids are accepted in any case, and
        # an unknown one names the nearest.
        from harness.model.catalog import load_catalog

        catalog = load_catalog()
        try:
            config["exemptions"] = {catalog.get(k).id: v for k, v in config["exemptions"].items()}
        except HarnessError as exc:
            raise HarnessError(f"{source}: exemptions: {exc}") from None
    return config


def schema_problem(config: dict[str, Any]) -> str | None:
    """What is wrong with a merged config, in one phrase with an example; None if nothing.
    Policies read these values as they are, so a wrong type would silently change every
    verdict (a string of registries is no list of them)."""
    for key, check in _CHECKS.items():
        if key in config:
            problem = check(config[key])
            if problem:
                return f"{key}: {problem}"
    return None


def _string_list(value: Any, example: str) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return f"must be a list of strings, e.g. {example} (got {value!r})"
    return None


def _scanner(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must be a mapping with url, timeout and deny_severity (got {value!r})"
    unknown = set(value) - {"url", "timeout", "deny_severity"}
    if unknown:
        return f"unknown key(s) {', '.join(sorted(unknown))} (known: url, timeout, deny_severity)"
    url = value.get("url")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        return (
            f"url must be null or an http(s) URL, e.g. https://scanner.example/scan (got {url!r})"
        )
    timeout = value.get("timeout", "5s")
    if not (isinstance(timeout, str) and _DURATION.match(timeout)):
        return f"timeout must be a duration such as 5s or 500ms (got {timeout!r})"
    severity = value.get("deny_severity", "HIGH")
    if not (isinstance(severity, str) and severity.upper() in SEVERITIES):
        return f"deny_severity must be one of {', '.join(SEVERITIES)} (got {severity!r})"
    return None


def _exemptions(value: Any) -> str | None:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and _string_list(v, "") is None for k, v in value.items()
    ):
        return f'must map control ids to lists of namespaces, e.g. {{"CIS-5.2.5": [monitoring]}} (got {value!r})'
    return None  # the ids themselves are checked where load_config resolves them


def _rbac_allowlist(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must be a mapping with roles and cluster_admin_subjects (got {value!r})"
    if "bindings" in value:
        return (
            "bindings is no longer read: a binding's subjects are the finding, so bindings "
            "are not allowlisted by name (see README, RBAC)"
        )
    unknown = set(value) - {"roles", "cluster_admin_subjects"}
    if unknown:
        return f"unknown key(s) {', '.join(sorted(unknown))} (known: roles, cluster_admin_subjects)"
    problem = _string_list(value.get("roles", []), "[monitoring/*, ci-runner]")
    if problem:
        return f"roles {problem}"
    subjects = value.get("cluster_admin_subjects", [])
    if not isinstance(subjects, list) or not all(
        isinstance(s, dict) and isinstance(s.get("kind"), str) and isinstance(s.get("name"), str)
        for s in subjects
    ):
        return (
            "cluster_admin_subjects must be a list of {kind, name}, e.g. "
            f"[{{kind: Group, name: 'system:masters'}}] (got {subjects!r})"
        )
    return None


def _istio(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be a mapping, e.g. {revisions: [default], root_namespace: istio-system}"
    unknown = set(value) - {"revisions", "root_namespace"}
    if unknown:
        return f"unknown key(s) {', '.join(sorted(unknown))} (known: revisions, root_namespace)"
    problem = _string_list(value.get("revisions", []), "[default, canary]")
    if problem:
        return f"revisions {problem}"
    root = value.get("root_namespace", "istio-system")
    if not isinstance(root, str) or not root:
        return f"root_namespace must be a namespace name (got {root!r})"
    return None


def _cloud_metadata(value: Any) -> str | None:
    example = "{on_cloud: true, addresses: [169.254.169.254]}"
    if not isinstance(value, dict):
        return f"must be a mapping, e.g. {example}"
    unknown = set(value) - {"on_cloud", "addresses"}
    if unknown:
        return f"unknown key(s) {', '.join(sorted(unknown))} (known: on_cloud, addresses)"
    if not isinstance(value.get("on_cloud", True), bool):
        return f"on_cloud must be true or false (got {value.get('on_cloud')!r})"
    addresses = value.get("addresses", [])
    problem = _string_list(addresses, "[169.254.169.254, fd00:ec2::254]")
    if problem:
        return f"addresses {problem}"
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            return f"addresses: {address!r} is not an IP address (NetworkPolicy cannot name hosts)"
    return None


_CHECKS = {
    "trusted_registries": lambda v: _string_list(v, "[docker.io, registry.k8s.io]"),
    "image_scanner": _scanner,
    "sandbox_runtime_classes": lambda v: _string_list(v, "[gvisor, kata]"),
    "exemptions": _exemptions,
    "rbac_allowlist": _rbac_allowlist,
    "secret_writers": lambda v: _string_list(
        v, "[system:serviceaccount:external-secrets:external-secrets]"
    ),
    "istio": _istio,
    "cloud_metadata": _cloud_metadata,
}
KNOWN_KEYS = set(_CHECKS)


def _read(path: Path) -> dict[str, Any]:
    doc = read_yaml(path, "config file not found") or {}
    if not isinstance(doc, dict):
        raise HarnessError(f"{path}: the config must be a mapping")
    unknown = set(doc) - KNOWN_KEYS
    if unknown:
        raise HarnessError(
            f"{path}: unknown config key(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    return doc


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
