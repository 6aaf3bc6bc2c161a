"""The object a validating webhook sees: a manifest after kube-apiserver v1.37 has
decoded, defaulted and re-encoded it.

The offline paths (`check`, `audit --from-dir`, the in-process and OPA targets, the
generated Rego tests) judge manifests as written, while a webhook, kube-mgmt and an
audit of a live cluster see what the API server stored. Every field a policy reads
that the API server changes is changed here the same way, read from
k8s.io/kubernetes v1.37.2 (cited per function), so a verdict offline is the verdict
online; `tests/test_defaulting.py` holds this module to the real API server.

Not done here, because no policy's verdict depends on it: defaults of fields no policy
reads (image pull policy, probe timings, termination message path, port protocols),
and the mutating admission plugins (ServiceAccount names an empty service account
"default", which CIS-5.1.5 already treats alike, and mounts the token NSA-1.5 already
denies; LimitRanger writes a LimitRange's default limits into a Pod's containers, which
NSA-2.3 counts from the LimitRange itself).
"""

from __future__ import annotations

import copy
from typing import Any

# Where each pod-bearing kind keeps its pod spec (a Pod's own, a template's).
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
# Lists the API types of the reviewed and state kinds serialise even when empty (no
# omitempty in k8s.io/api v0.37.2): every other empty list is omitted.
_KEPT_EMPTY_LISTS = frozenset({"containers", "rules", "verbs"})
# Maps that are omitted when empty (omitempty on a map type); a pointer to a struct, such
# as securityContext: {} or emptyDir: {}, is kept.
_OMITTED_EMPTY_MAPS = frozenset(
    {
        "labels",
        "annotations",
        "nodeSelector",
        "data",
        "stringData",
        "matchLabels",
        "limits",
        "requests",
        "max",
        "min",
        "default",
        "defaultRequest",
        "maxLimitRequestRatio",
        "hard",
    }
)
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def admitted_review(review: dict[str, Any]) -> dict[str, Any]:
    """review with its object and old object as the API server hands them on."""
    request = review.get("request")
    if not isinstance(request, dict):
        return review
    out = dict(request)
    for key in ("object", "oldObject"):
        if isinstance(request.get(key), dict):
            out[key] = admitted(request[key])
    return {**review, "request": out}


def admitted(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of body as the API server stores it, in the fields policies read."""
    out = _without_nulls(copy.deepcopy(body))
    kind = out.get("kind")
    if kind == "Pod" and isinstance(out.get("spec"), dict):
        _default_pod(out["spec"])
        _default_pod_spec(out["spec"])
        _apparmor_fields(out)
    elif kind in _TEMPLATE_PATHS:
        template = _dig(out, _TEMPLATE_PATHS[kind])
        if isinstance(template, dict) and isinstance(template.get("spec"), dict):
            _default_pod_spec(template["spec"])
    elif kind == "NetworkPolicy" and isinstance(out.get("spec"), dict):
        _default_network_policy(out["spec"])
    elif kind == "LimitRange":
        for item in (out.get("spec") or {}).get("limits") or []:
            if isinstance(item, dict):
                _default_limit_range_item(item)
    admitted_body: dict[str, Any] = _without_empty(out)
    return admitted_body


def _without_nulls(value: Any) -> Any:
    """JSON null decodes to a nil pointer, slice or map, which the API server omits."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _without_empty(value: Any) -> Any:
    """What json omitempty leaves out when the API server encodes the object: empty
    lists (but for the few serialised anyway), empty maps of map type, a zero hostPort."""
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        item = _without_empty(item)
        if item == [] and key not in _KEPT_EMPTY_LISTS:
            continue
        if item == {} and key in _OMITTED_EMPTY_MAPS:
            continue
        if key == "hostPort" and item == 0:
            continue
        out[key] = item
    return out


def _dig(body: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = body
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _default_pod(spec: dict[str, Any]) -> None:
    """SetDefaults_Pod (pkg/apis/core/v1/defaults.go), the part policies read: on the
    host network every container port is a host port (defaultHostNetworkPorts; Pods
    only, not templates)."""
    if spec.get("hostNetwork") is True:
        for field in ("containers", "initContainers"):
            for container in _dicts(spec.get(field)):
                for port in _dicts(container.get("ports")):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")


def _apparmor_fields(pod: dict[str, Any]) -> None:
    """applyAppArmorVersionSkew (pkg/registry/core/pod/strategy.go, a Pod's
    PrepareForCreate): a container with a deprecated AppArmor annotation and no profile
    field gets the field the annotation names (ApparmorFieldForAnnotation in
    pkg/api/pod/util.go), unless it equals the pod's profile; not on Windows pods."""
    spec = pod["spec"]
    if (spec.get("os") or {}).get("name") == "windows":
        return
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    pod_profile = (spec.get("securityContext") or {}).get("appArmorProfile")
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for container in _dicts(spec.get(field)):
            annotation = annotations.get(APPARMOR_ANNOTATION + str(container.get("name")))
            context = container.get("securityContext") or {}
            if not isinstance(annotation, str) or "appArmorProfile" in context:
                continue
            profile = _apparmor_profile(annotation)
            if profile is not None and profile != pod_profile:
                container["securityContext"] = {**context, "appArmorProfile": profile}


def _apparmor_profile(annotation: str) -> dict[str, str] | None:
    if annotation == "unconfined":
        return {"type": "Unconfined"}
    if annotation == "runtime/default":
        return {"type": "RuntimeDefault"}
    name = annotation.removeprefix("localhost/")
    if annotation.startswith("localhost/") and name and name.strip() == name and len(name) < 4096:
        return {"type": "Localhost", "localhostProfile": name}
    return None


def _default_pod_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_PodSpec and SetDefaults_Volume (pkg/apis/core/v1/defaults.go), the
    parts policies read: the deprecated serviceAccount alias and serviceAccountName kept
    in step (serviceAccountName wins), an empty pod securityContext, and a volume with no
    source an emptyDir."""
    if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    spec.setdefault("securityContext", {})
    for volume in _dicts(spec.get("volumes")):
        if not any(key != "name" for key in volume):
            volume["emptyDir"] = {}


def _default_network_policy(spec: dict[str, Any]) -> None:
    """SetDefaults_NetworkPolicy (pkg/apis/networking/v1/defaults.go): without
    policyTypes (or with an empty list) a policy isolates ingress, and egress too when
    it has egress rules. The pod selector is a plain struct, always stored ({} selects
    every pod)."""
    spec.setdefault("podSelector", {})
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _default_limit_range_item(item: dict[str, Any]) -> None:
    """SetDefaults_LimitRangeItem (pkg/apis/core/v1/defaults.go): for containers, a
    missing default limit is the max, a missing default request the default limit, else
    the min."""
    if item.get("type") != "Container":
        return
    default = item.setdefault("default", {})
    request = item.setdefault("defaultRequest", {})
    for key, value in (item.get("max") or {}).items():
        default.setdefault(key, value)
    for key, value in default.items():
        request.setdefault(key, value)
    for key, value in (item.get("min") or {}).items():
        request.setdefault(key, value)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
