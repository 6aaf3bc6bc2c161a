"""Kubernetes manifests: loading YAML/JSON, knowing kinds, wrapping AdmissionReviews and
laying out cluster state the way kube-mgmt replicates it into OPA.

Fixtures and user input are plain manifests; the harness wraps them, so the same files
can later be submitted to a real API server unchanged.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError
from harness.model import yamlfile
from harness.model.defaulting import admitted


@dataclass(frozen=True)
class KindInfo:
    group: str
    version: str
    resource: str
    namespaced: bool = True


# Kinds that carry a pod spec, directly or as a template: what RD policies review.
POD_BEARING: dict[str, KindInfo] = {
    "Pod": KindInfo("", "v1", "pods"),
    "Deployment": KindInfo("apps", "v1", "deployments"),
    "ReplicaSet": KindInfo("apps", "v1", "replicasets"),
    "StatefulSet": KindInfo("apps", "v1", "statefulsets"),
    "DaemonSet": KindInfo("apps", "v1", "daemonsets"),
    "Job": KindInfo("batch", "v1", "jobs"),
    "CronJob": KindInfo("batch", "v1", "cronjobs"),
    "ReplicationController": KindInfo("", "v1", "replicationcontrollers"),
}

# RBAC kinds the CIS-5.1.x policies review.
RBAC: dict[str, KindInfo] = {
    "Role": KindInfo("rbac.authorization.k8s.io", "v1", "roles"),
    "ClusterRole": KindInfo("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False),
    "RoleBinding": KindInfo("rbac.authorization.k8s.io", "v1", "rolebindings"),
    "ClusterRoleBinding": KindInfo(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False
    ),
}

# Requests for client certificates: a subject with O=system:masters bypasses RBAC
# (CIS-5.1.7).
CERTIFICATES: dict[str, KindInfo] = {
    "CertificateSigningRequest": KindInfo(
        "certificates.k8s.io", "v1", "certificatesigningrequests", namespaced=False
    ),
}

# Secrets: who writes them says whether their values come from an external manager
# (CIS-5.4.2).
SECRETS: dict[str, KindInfo] = {"Secret": KindInfo("", "v1", "secrets")}

# Everything an admission policy reviews.
REVIEWED: dict[str, KindInfo] = {**POD_BEARING, **RBAC, **CERTIFICATES, **SECRETS}

# Kinds that form the cluster state policies consult (as kube-mgmt replicates them).
STATE: dict[str, KindInfo] = {
    "Namespace": KindInfo("", "v1", "namespaces", namespaced=False),
    "NetworkPolicy": KindInfo("networking.k8s.io", "v1", "networkpolicies"),
    "ResourceQuota": KindInfo("", "v1", "resourcequotas"),
    "LimitRange": KindInfo("", "v1", "limitranges"),
    # Istio's CRD, for NSA-2.6 (in-cluster encryption through a mesh's strict mTLS).
    "PeerAuthentication": KindInfo("security.istio.io", "v1", "peerauthentications"),
}

# Built-in kinds that `check` accepts and skips: nothing in the RD policies reads them.
OTHER_BUILTIN_KINDS = frozenset(
    {
        "APIService",
        "Binding",
        "ConfigMap",
        "ControllerRevision",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "Endpoints",
        "EndpointSlice",
        "Event",
        "HorizontalPodAutoscaler",
        "Ingress",
        "IngressClass",
        "Lease",
        "MutatingWebhookConfiguration",
        "Node",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "PodTemplate",
        "PriorityClass",
        "RuntimeClass",
        "Service",
        "ServiceAccount",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
        "List",
    }
)

ADMISSION_REVIEW = "AdmissionReview"


@dataclass(frozen=True)
class Document:
    """One Kubernetes object and where it came from."""

    body: dict[str, Any]
    source: Path
    index: int

    @property
    def kind(self) -> str:
        kind: str = self.body["kind"]
        return kind

    @property
    def name(self) -> str:
        meta = self.body.get("metadata") or {}
        return meta.get("name") or meta.get("generateName") or "<unnamed>"

    @property
    def namespace(self) -> str:
        return namespace_of(self.body)

    @property
    def ref(self) -> str:
        """Kind/namespace/name, the way `check` reports a resource."""
        info = STATE.get(self.kind) or RBAC.get(self.kind)
        if info is not None and not info.namespaced:
            return f"{self.kind}/{self.name}"
        return f"{self.kind}/{self.namespace}/{self.name}"


def namespace_of(body: dict[str, Any]) -> str:
    """A namespaced object without a namespace is created in default."""
    return (body.get("metadata") or {}).get("namespace") or "default"


def pod_metadata(body: dict[str, Any]) -> dict[str, Any]:
    """The metadata of the pod a pod-bearing object makes (its own, or its template's)."""
    spec = body.get("spec") or {}
    if body["kind"] == "Pod":
        return body.get("metadata") or {}
    if body["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("metadata") or {}


def pod_spec(body: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a pod-bearing object ({} for other kinds)."""
    spec = body.get("spec") or {}
    if body["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    if body["kind"] != "Pod":
        spec = spec.get("template", {}).get("spec", {})
    return spec if body["kind"] in REVIEWED and "containers" in spec else {}


def load_documents(path: Path) -> list[Document]:
    """All objects in a YAML (multi-document) or JSON file; empty documents are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        raw = [d for d in yamlfile.load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise HarnessError(f"{path}: malformed YAML: {' '.join(str(exc).split())}") from None
    docs: list[Document] = []
    for index, body in enumerate(_expand_lists(raw, path)):
        if not isinstance(body, dict):
            raise HarnessError(f"{path}: document {index + 1} is not a mapping")
        if not body.get("kind") or not body.get("apiVersion"):
            raise HarnessError(f"{path}: document {index + 1} has no kind or apiVersion")
        docs.append(Document(body, path, index))
    return docs


def _expand_lists(raw: Iterable[Any], path: Path) -> Iterator[Any]:
    for body in raw:
        if isinstance(body, dict) and body.get("kind") == "List":
            items = body.get("items")
            if not isinstance(items, list):
                raise HarnessError(f"{path}: a List document needs items")
            yield from items
        else:
            yield body


def find_manifest_files(paths: Iterable[Path]) -> list[Path]:
    """Files named on the command line plus *.yaml, *.yml, *.json under named folders."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix in {".yaml", ".yml", ".json"}))
        elif p.is_file():
            files.append(p)
        else:
            raise HarnessError(f"{p}: no such file or directory")
    return files


def is_custom_resource(body: dict[str, Any]) -> bool:
    """Objects of API groups outside Kubernetes itself (CRDs): skipped, never 'unknown'."""
    group = body["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


# The username of requests the harness makes as itself (fixtures without a user).
HARNESS_USER = "pac-harness"


def admission_review(
    body: dict[str, Any],
    operation: str = "CREATE",
    subresource: str | None = None,
    uid: str | None = None,
    user: str | None = None,
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Wrap an object the way kube-apiserver sends it to a validating webhook, as made by
    user (default: the harness); an UPDATE's old object is old when given. Policies may
    read the username only: behind a real API server the groups are the ones the replay
    is impersonated with."""
    kind = body["kind"]
    info = REVIEWED.get(kind) or STATE.get(kind)
    group, _, version = body["apiVersion"].rpartition("/")
    resource = info.resource if info else kind.lower() + "s"
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": resource}
    request: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()),
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": (body.get("metadata") or {}).get("name", ""),
        "operation": operation,
        "userInfo": {"username": user or HARNESS_USER, "groups": ["system:authenticated"]},
        "object": body,
        "oldObject": None,
        "dryRun": False,
    }
    if info is None or info.namespaced:
        request["namespace"] = namespace_of(body)
    if subresource:
        request["subResource"] = subresource
    if operation == "UPDATE":
        request["oldObject"] = old if old is not None else _previous_version(body, subresource)
    return {"apiVersion": "admission.k8s.io/v1", "kind": ADMISSION_REVIEW, "request": request}


def _previous_version(body: dict[str, Any], subresource: str | None) -> dict[str, Any]:
    """For an ephemeral-container update, the pod as it was before the debug container."""
    old = copy.deepcopy(body)
    if subresource == "ephemeralcontainers":
        old.get("spec", {}).pop("ephemeralContainers", None)
    return old


def unwrap_review(
    body: dict[str, Any], source: Path
) -> tuple[dict[str, Any], str, str | None, str | None, dict[str, Any] | None]:
    """The object, operation, subresource, username and old object inside an
    AdmissionReview."""
    request = body.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("object"), dict):
        raise HarnessError(f"{source}: AdmissionReview without request.object")
    user = (request.get("userInfo") or {}).get("username")
    return (
        request["object"],
        request.get("operation", "CREATE"),
        request.get("subResource"),
        user if isinstance(user, str) and user else None,
        request["oldObject"] if isinstance(request.get("oldObject"), dict) else None,
    )


def cluster_state(documents: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """State objects in kube-mgmt's layout: data.kubernetes.<resource>[.<namespace>].<name>,
    each as the API server stores it (model.defaulting), as kube-mgmt would read it."""
    state: dict[str, Any] = {info.resource: {} for info in STATE.values()}
    for body in documents:
        info = STATE.get(body.get("kind", ""))
        if info is None:
            continue
        body = admitted(body)
        name = body["metadata"]["name"]
        if info.namespaced:
            state[info.resource].setdefault(namespace_of(body), {})[name] = body
        else:
            state[info.resource][name] = body
    return state


def resources_by_group(kinds: dict[str, KindInfo]) -> dict[str, list[str]]:
    """API group -> the kinds' resources, sorted; pods bring their ephemeralcontainers
    subresource (debug containers join a running pod through it)."""
    by_group: dict[str, set[str]] = {}
    for info in kinds.values():
        by_group.setdefault(info.group, set()).add(info.resource)
    if "pods" in by_group.get("", set()):
        by_group[""].add("pods/ephemeralcontainers")
    return {group: sorted(resources) for group, resources in sorted(by_group.items())}
