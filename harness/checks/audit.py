"""Audit existing cluster state (the thesis's limitation 4: admission is not
retroactive). Every admission policy is applied to the objects that already exist, and
the checks that only make sense on the whole state (audit controls) run once over all
of it. Input: a live cluster through a kubeconfig (read-only lists), or a directory of
manifests, for example the output of `kubectl get <kinds> -A -o yaml`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness.checks.check import Collected, Finding, classify, collect, decide_objects
from harness.errors import HarnessError
from harness.infra import kubeapi
from harness.infra.kubeapi import api_base
from harness.model.catalog import Control
from harness.model.clusterstate import snapshot
from harness.model.manifests import Document
from harness.model.policies import policy_set
from harness.targets.wasm import WasmTarget

CLUSTER = "cluster"

# What a live audit reads: (group, version, resource, kind), listed in every namespace;
# Istio's kinds are skipped where the cluster does not serve them.
LIVE_KINDS = [
    ("", "v1", "namespaces", "Namespace"),
    ("", "v1", "pods", "Pod"),
    ("", "v1", "resourcequotas", "ResourceQuota"),
    ("", "v1", "limitranges", "LimitRange"),
    ("apps", "v1", "deployments", "Deployment"),
    ("apps", "v1", "replicasets", "ReplicaSet"),
    ("apps", "v1", "statefulsets", "StatefulSet"),
    ("apps", "v1", "daemonsets", "DaemonSet"),
    ("batch", "v1", "jobs", "Job"),
    ("batch", "v1", "cronjobs", "CronJob"),
    ("", "v1", "replicationcontrollers", "ReplicationController"),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding"),
    (
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "validatingadmissionpolicies",
        "ValidatingAdmissionPolicy",
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "validatingadmissionpolicybindings",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("security.istio.io", "v1", "peerauthentications", "PeerAuthentication"),
    ("telemetry.istio.io", "v1", "telemetries", "Telemetry"),
]

# Single objects read by name: Istio's MeshConfig (NSA-4.1.6), not every ConfigMap.
LIVE_OBJECTS = [("", "v1", "istio-system", "configmaps", "istio", "ConfigMap")]


def collect_live(kubeconfig: Path, context: str | None) -> list[Document]:
    """Every object of the kinds the policies read, listed from a live cluster (read-only)."""
    from kubernetes import config as kube_config

    try:
        api = kube_config.new_client_from_config(config_file=str(kubeconfig), context=context)
    except Exception as exc:  # the client raises several types for a bad kubeconfig
        raise HarnessError(
            f"{kubeconfig}: cannot use kubeconfig: {' '.join(str(exc).split())}"
        ) from None
    source = Path(f"{kubeconfig}#{context or 'current-context'}")
    docs: list[Document] = []
    with api:
        for group, version, resource, kind in LIVE_KINDS:
            try:
                data = kubeapi.request(api, "GET", f"{api_base(group, version)}/{resource}")
            except kubeapi.ApiError as exc:
                if exc.status == 404:
                    continue  # an API this cluster does not serve
                raise HarnessError(f"{source}: listing {resource}: {_explain(exc)}") from None
            for item in json.loads(data).get("items", []):
                docs.append(_document(item, group, version, kind, source, len(docs)))
        for group, version, namespace, resource, name, kind in LIVE_OBJECTS:
            path = f"{api_base(group, version)}/namespaces/{namespace}/{resource}/{name}"
            try:
                data = kubeapi.request(api, "GET", path)
            except kubeapi.ApiError as exc:
                if exc.status == 404:
                    continue  # not there: the policies read its absence
                raise HarnessError(f"{source}: reading {path}: {_explain(exc)}") from None
            docs.append(_document(json.loads(data), group, version, kind, source, len(docs)))
    return docs


def _document(
    item: dict[str, Any], group: str, version: str, kind: str, source: Path, index: int
) -> Document:
    item.setdefault("kind", kind)
    item.setdefault("apiVersion", f"{group}/{version}" if group else version)
    return Document(item, source, index)


def _explain(exc: kubeapi.ApiError) -> str:
    if exc.status == 0:
        return str(exc)
    if exc.status in (401, 403):
        who = "not authenticated" if exc.status == 401 else "not allowed"
        return f"HTTP {exc.status}, {who} (audit needs list on every kind it reads): {exc}"
    return f"HTTP {exc.status}: {exc}"


# The one audit control that a live cluster can show rather than describe.
PROBED_CONTROL = "CIS-5.3.1"


def probe_network_policy(
    kubeconfig: Path, context: str | None, image: str, note: Callable[[str], None] | None
) -> dict[str, Any] | None:
    """Does the cluster's CNI enforce NetworkPolicy, as a NetworkPolicyProbe document for
    the audit policies; None when the probe cannot run, and CIS-5.3.1 then falls back to
    the plugin's name."""
    from harness.infra import netprobe

    fallback = f"{PROBED_CONTROL} is decided from the network plugin's name only (partial evidence)"
    result = netprobe.probe_cluster(kubeconfig, context, image, note, fallback)
    return None if result is None else netprobe.document(result)


def audit_live(
    kubeconfig: Path,
    context: str | None,
    controls: list[Control],
    config: dict[str, Any],
    probe_image: str | None = None,
    note: Callable[[str], None] | None = None,
) -> list[Finding]:
    """probe_image: run the NetworkPolicy probe with it (an image with nc); None: do not."""
    docs = collect_live(kubeconfig, context)
    if probe_image and any(c.id == PROBED_CONTROL for c in controls):
        probe = probe_network_policy(kubeconfig, context, probe_image, note)
        if probe is not None:
            docs.append(Document(probe, Path(f"{kubeconfig}#probe"), len(docs)))
    return _audit(classify(docs), controls, config)


def audit_dir(
    paths: Iterable[Path], controls: list[Control], config: dict[str, Any]
) -> list[Finding]:
    return _audit(collect(paths), controls, config)


def _audit(found: Collected, controls: list[Control], config: dict[str, Any]) -> list[Finding]:
    findings = decide_objects(found, controls, config)
    cluster_controls = [c for c in controls if "audit" in c.points]
    if cluster_controls:
        state = snapshot(d.body for d in found.everything)
        queries = [c.entrypoint_at("audit") for c in cluster_controls]
        policy = policy_set(queries, config=config)
        with WasmTarget() as target:
            target.start(policy)
            for control, query in zip(cluster_controls, queries, strict=True):
                decision = target.decide(target.prepare(state, query))
                findings.append(
                    Finding("", CLUSTER, control.id, decision.verdict, list(decision.messages))
                )
    return findings
