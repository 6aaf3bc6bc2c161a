"""Kubernetes' own RBAC objects as kube-apiserver bootstraps them, kept as Rego data.

The CIS-5.1.x policies let an RBAC object through on its content, never on its name: a
ClusterRole called system:anything can be created by whoever may create ClusterRoles.
So the content of every object the API server bootstraps (label
kubernetes.io/bootstrapping=rbac-defaults) is read from the real kube-apiserver this
project builds and written to policies/lib/rbac_defaults.rego; the policy compares an
object under review with it. A test reads the live objects again and fails when the
file no longer matches them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import paths

if TYPE_CHECKING:
    from harness.infra.kubeapi import Query

LABEL_SELECTOR = "kubernetes.io/bootstrapping=rbac-defaults"
# kind -> resource; Roles and RoleBindings are keyed namespace/name, as lib.k8s does.
KINDS = {
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "Role": "roles",
    "RoleBinding": "rolebindings",
}


def rego_file(root: Path | None = None) -> Path:
    return (root or paths.policies_dir()) / "lib" / "rbac_defaults.rego"


def content(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """What lib.rbac compares (its bootstrap_content): aggregated roles by their
    aggregation rule (the controller fills their rules), other roles by rules, bindings
    by roleRef and subjects."""
    if body.get("aggregationRule"):
        return {"aggregationRule": body["aggregationRule"]}
    if kind.endswith("Binding"):
        return {"roleRef": body["roleRef"], "subjects": body.get("subjects") or []}
    return {"rules": body.get("rules") or []}


def collect(
    get: Callable[[str, Query], bytes],
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Every bootstrapped object, by kind and qualified name, from GET requests; and the
    bootstrapped ClusterRoles as aggregation sees them (cluster_roles)."""
    objects: dict[str, dict[str, Any]] = {}
    roles: list[dict[str, Any]] = []
    for kind, resource in KINDS.items():
        path = f"/apis/rbac.authorization.k8s.io/v1/{resource}"
        items = json.loads(get(path, [("labelSelector", LABEL_SELECTOR)]))["items"]
        by_name = objects.setdefault(kind, {})
        for body in items:
            meta = body["metadata"]
            key = f"{meta['namespace']}/{meta['name']}" if "namespace" in meta else meta["name"]
            by_name[key] = content(kind, body)
            if kind == "ClusterRole":
                roles.append(body)
    return objects, cluster_roles(roles)


def cluster_roles(roles: list[dict[str, Any]]) -> dict[str, Any]:
    """name -> {labels, rules}: each ClusterRole's labels and the rules it holds once
    kube-controller-manager's ClusterRole aggregation controller has run (an aggregated
    role's rules are its sources', repeated until nothing changes, as the controller's
    resyncs do; pkg/controller/clusterroleaggregation in k8s.io/kubernetes v1.37.2). The
    API server alone bootstraps aggregated roles empty."""
    by_name = {r["metadata"]["name"]: r for r in roles}
    rules = {name: list(r.get("rules") or []) for name, r in by_name.items()}
    labels = {name: r["metadata"].get("labels") or {} for name, r in by_name.items()}
    changed = True
    while changed:
        changed = False
        for name in sorted(by_name):
            selectors = (by_name[name].get("aggregationRule") or {}).get("clusterRoleSelectors")
            if selectors is None:
                continue
            merged = aggregate(name, selectors, labels, rules)
            if merged != rules[name]:
                rules[name], changed = merged, True
    return {name: {"labels": labels[name], "rules": rules[name]} for name in sorted(by_name)}


def aggregate(
    name: str,
    selectors: list[dict[str, Any]],
    labels: dict[str, dict[str, str]],
    rules: dict[str, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """syncClusterRole: for each selector in order, the matching roles by name (itself
    left out), each rule once."""
    merged: list[dict[str, Any]] = []
    for selector in selectors:
        for source in sorted(labels):
            if source != name and selector_matches(selector, labels[source]):
                merged.extend(r for r in rules[source] if r not in merged)
    return merged


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels); {} matches everything."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, values, op = e["key"], e.get("values") or [], e["operator"]
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def render(objects: dict[str, dict[str, Any]], roles: dict[str, Any], version: str) -> str:
    body = json.dumps(objects, indent=1, sort_keys=True)
    sources = json.dumps(roles, indent=1, sort_keys=True)
    return (
        f"# Generated by `python -m harness rbac-defaults --write` from kube-apiserver {version}:\n"
        f"# every RBAC object labelled {LABEL_SELECTOR}, as lib.rbac compares it, and the\n"
        "# bootstrapped ClusterRoles' labels and rules once aggregated, which aggregated roles\n"
        "# draw on. Do not edit.\n"
        "package lib.rbac_defaults\n\n"
        f"objects := {body}\n\n"
        f"cluster_roles := {sources}\n"
    )


def read_live() -> tuple[dict[str, dict[str, Any]], dict[str, Any], str]:
    """Start the local control plane, read the bootstrapped objects, stop it."""
    from kubernetes import config as kube_config

    from harness.infra import kubeapi
    from harness.infra.controlplane import LocalControlPlane

    cluster = LocalControlPlane()
    cluster.start()
    try:
        api = kube_config.new_client_from_config(config_file=str(cluster.kubeconfig))
        try:
            objects, roles = collect(
                lambda path, query: kubeapi.request(api, "GET", path, query=query)
            )
            version = json.loads(kubeapi.request(api, "GET", "/version"))["gitVersion"]
        finally:
            api.close()
    finally:
        cluster.stop()
    return objects, roles, version


def sync(write: bool, root: Path | None = None) -> bool:
    """True when the committed file matches the live API server (rewritten if write)."""
    objects, roles, version = read_live()
    wanted = render(objects, roles, version)
    target = rego_file(root)
    current = target.read_text(encoding="utf-8") if target.exists() else ""
    if current == wanted:
        return True
    if write:
        target.write_text(wanted, encoding="utf-8")
    return False
