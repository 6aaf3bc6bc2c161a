"""A real admission chain on one machine: etcd + kube-apiserver (built from source),
an OPA server registered as a ValidatingWebhookConfiguration over HTTPS, and fixtures
submitted through the kubernetes Python client with server-side dry-run.

Each decision is one API call (POST ...?dryRun=All), so its latency is what the policy
adds to deploying a resource plus the API server's own work; the supplementary baseline
repeats every fixture with the webhook removed, for the paired difference.

Cluster state is created as real API objects (CRDs for Istio's PeerAuthentication and
Calico's policies are installed first) and reaches OPA the way kube-mgmt brings it: a
replicator lists and watches kube-apiserver and writes data.kubernetes, and the harness
waits until each object has arrived before it submits fixtures. kube-mgmt itself is not
used here (the Go module proxy does not serve it); harness.replicator plays its part.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from typing import Any

import yaml

from harness import paths
from harness.errors import TargetError
from harness.manifests import POD_BEARING, REVIEWED, STATE, KindInfo
from harness.policies import COMBINED_QUERY, PolicySet
from harness.replicator import Replicator
from harness.targets.base import Decision, SkipFixture, Target
from harness.targets.opa import OpaServerTarget

WEBHOOK_NAME = "pac-harness"
PSA_NAMESPACE = "pac-harness-psa-restricted"
HARNESS_NAMESPACE = "pac-harness"
EXCLUDED_NAMESPACES = ["kube-system", HARNESS_NAMESPACE]
ACTIVE_TIMEOUT_S = 30


# Kinds the target itself creates, beside the fixtures' kinds.
OWN_KINDS = {
    "ServiceAccount": KindInfo("", "v1", "serviceaccounts"),
    "RuntimeClass": KindInfo("node.k8s.io", "v1", "runtimeclasses", namespaced=False),
    "ValidatingWebhookConfiguration": KindInfo(
        "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", namespaced=False
    ),
    "CustomResourceDefinition": KindInfo(
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False
    ),
}
WEBHOOK_KIND = {"kind": "ValidatingWebhookConfiguration", "metadata": {}}


def api_path(body: dict[str, Any]) -> str:
    kind = body["kind"]
    info = REVIEWED.get(kind) or STATE.get(kind) or OWN_KINDS.get(kind)
    if info is None:
        raise SkipFixture(f"kind {body['kind']} has no API path here")
    base = f"/api/{info.version}" if not info.group else f"/apis/{info.group}/{info.version}"
    if info.namespaced:
        ns = (body.get("metadata") or {}).get("namespace") or "default"
        return f"{base}/namespaces/{ns}/{info.resource}"
    return f"{base}/{info.resource}"


def webhook_configuration(url: str, ca_pem: bytes) -> dict[str, Any]:
    # Debug containers join a running pod through a subresource of their own.
    resources = sorted({i.resource for i in REVIEWED.values()} | {"pods/ephemeralcontainers"})
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_NAME},
        "webhooks": [
            {
                "name": "validating-webhook.pac-harness.io",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",  # so server-side dry-run requests reach it
                "failurePolicy": "Fail",
                "timeoutSeconds": 10,
                "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_pem).decode()},
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "NotIn",
                            "values": EXCLUDED_NAMESPACES,
                        }
                    ]
                },
                "rules": [
                    {
                        "operations": ["CREATE", "UPDATE"],
                        "apiGroups": ["", "apps", "batch", "rbac.authorization.k8s.io"],
                        "apiVersions": ["v1"],
                        "resources": resources,
                        "scope": "*",
                    }
                ],
            }
        ],
    }


class LocalTarget(Target):
    name = "local"

    def __init__(self) -> None:
        self.opa = OpaServerTarget(with_state=False)  # state comes through the replicator
        self.cluster = None
        self.api = None
        self.replicator: Replicator | None = None
        self._selected: str | None = None
        self._namespaces: set[str] = set()
        self._accounts: set[tuple[str, str]] = set()
        self._pods: set[tuple[str, str]] = set()

    def start(self, policy: PolicySet) -> None:
        try:
            self._start(policy)
        except BaseException:
            self.close()  # webhook first, then processes: nothing half-started is left
            raise

    def _start(self, policy: PolicySet) -> None:
        from kubernetes import config as kube_config

        from harness.controlplane import LocalControlPlane

        self.opa.start(policy)
        self.cluster = LocalControlPlane()
        self.cluster.start()
        self.api = kube_config.new_client_from_config(config_file=str(self.cluster.kubeconfig))
        self.install_crds()
        self.replicator = Replicator(self._open, self.opa.data_client, STATE)
        self.replicator.start()
        self._ensure_namespace(HARNESS_NAMESPACE)
        self._create_state(policy.state)
        self.register_webhook()

    # ------------------------------------------------------------ cluster objects

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """One API request through the kubernetes client; an error status raises ApiError."""
        request = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            body=body,
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request)
        response.read()
        if response.status >= 400:
            raise ApiError(response.status, _message(response.data))
        return response.data

    def _open(self, method: str, path: str, query: list) -> Any:
        """A request whose response body is read by the caller, as a stream (watches)."""
        request = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request, _request_timeout=60).response
        if response.status >= 400:
            raise ApiError(response.status, _message(response.read()))
        return response

    def install_crds(self) -> None:
        """The CRDs of the kinds fixtures use beside built-in ones, until established."""
        crds = []
        for path in sorted((paths.scenarios_dir() / "crds").glob("*.yaml")):
            crds += [d for d in yaml.safe_load_all(path.read_text()) if d]
        for crd in crds:
            self._create(crd)
        base = api_path(crds[0]) if crds else ""
        deadline = time.monotonic() + ACTIVE_TIMEOUT_S
        for crd in crds:
            while not _established(
                json.loads(self._call("GET", f"{base}/{crd['metadata']['name']}"))
            ):
                if time.monotonic() > deadline:
                    raise TargetError(
                        f"CRD {crd['metadata']['name']} not established in {ACTIVE_TIMEOUT_S} s"
                    )
                time.sleep(0.1)

    def _create(self, body: dict[str, Any]) -> None:
        try:
            self._call("POST", api_path(body), body)
        except ApiError as exc:
            if exc.status != 409:
                raise TargetError(
                    f"creating {body['kind']} {body['metadata'].get('name')}: {exc}"
                ) from None

    def _ensure_namespace(self, name: str) -> None:
        if name in self._namespaces:
            return
        self._create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        # No controller-manager mints the default service account.
        self._create(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": name},
            }
        )
        self._namespaces.add(name)

    def _ensure_service_account(self, namespace: str, name: str) -> None:
        if (namespace, name) not in self._accounts:
            self._create(
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": namespace},
                }
            )
            self._accounts.add((namespace, name))

    def _ensure_references(self, namespace: str, body: dict[str, Any]) -> None:
        """What admission plugins want to exist for a pod: its service account and its
        RuntimeClass (which handler the nodes run does not matter to admission)."""
        spec = _pod_spec(body)
        if spec.get("serviceAccountName") not in (None, "", "default"):
            self._ensure_service_account(namespace, spec["serviceAccountName"])
        if spec.get("runtimeClassName"):
            name = spec["runtimeClassName"]
            self._create(
                {
                    "apiVersion": "node.k8s.io/v1",
                    "kind": "RuntimeClass",
                    "metadata": {"name": name},
                    "handler": name,
                }
            )

    def _create_state(self, state: dict[str, Any]) -> None:
        """The fixtures' cluster state as API objects, then wait until OPA holds all of it."""
        for name in state.get("namespaces", {}):
            self._ensure_namespace(name)
        created = []
        for resource, by_ns in state.items():
            if resource == "namespaces":
                continue
            for ns, objects in by_ns.items():
                self._ensure_namespace(ns)
                for body in objects.values():
                    self._create(body)
                    created.append(body)
        opa = self.opa.data_client()
        try:
            for body in created:
                self.replicator.wait_for(STATE[body["kind"]], body, opa)
        finally:
            opa.close()

    def register_webhook(self) -> None:
        url = f"https://127.0.0.1:{self.opa.port}/v0/data/webhook/selected"
        self._create(webhook_configuration(url, self.opa.ca_cert.read_bytes()))
        self._select("cis_5_6_4")
        self._wait_until(denied=True)

    def remove_webhook(self) -> None:
        try:
            self._call("DELETE", api_path(WEBHOOK_KIND) + f"/{WEBHOOK_NAME}")
        except ApiError as exc:
            if exc.status != 404:
                raise TargetError(f"removing the webhook: {exc}") from None
        self._wait_until(denied=False)

    def _wait_until(self, denied: bool) -> None:
        """kube-apiserver learns about webhook changes asynchronously: probe until it has."""
        self._ensure_namespace("default")
        probe = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "probe", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
        }
        self._select("cis_5_6_4")
        deadline = time.monotonic() + ACTIVE_TIMEOUT_S
        while time.monotonic() < deadline:
            if (not self._submit(api_path(probe), probe).allowed) == denied:
                return
            time.sleep(0.2)
        raise TargetError(
            f"the webhook did not become {'active' if denied else 'inactive'} in {ACTIVE_TIMEOUT_S} s"
        )

    def _select(self, selection: str) -> None:
        if selection != self._selected:
            self.opa.put_data("harness/selected", selection)
            self._selected = selection

    # ------------------------------------------------------------ decisions

    def prepare(self, review: dict[str, Any], query: str) -> Any:
        request = review.get("request") or {}
        body = request.get("object")
        if body is None:
            raise SkipFixture("not an admission request")
        ns = (body.get("metadata") or {}).get("namespace") or "default"
        if body["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            self._ensure_namespace(ns)
        self._ensure_references(ns, body)
        method, path = "POST", api_path(body)
        operation = request.get("operation", "CREATE")
        if operation == "UPDATE" and request.get("subResource") == "ephemeralcontainers":
            self._ensure_pod(request["oldObject"])
            method, path = "PUT", f"{path}/{body['metadata']['name']}/ephemeralcontainers"
        elif operation != "CREATE":
            raise SkipFixture(f"{operation} {request.get('subResource') or ''} is not replayed")
        self._select("ALL" if query == COMBINED_QUERY else query.split("/")[1])
        return method, path, body

    def _ensure_pod(self, pod: dict[str, Any]) -> None:
        """The pod an ephemeral-container update starts from, created for real (no kubelet
        runs it) while the webhook lets everything through."""
        key = (pod["metadata"].get("namespace"), pod["metadata"]["name"])
        if key not in self._pods:
            self._select("NONE")
            self._create(pod)
            self._pods.add(key)

    def decide(self, prepared: Any) -> Decision:
        method, path, body = prepared
        return self._submit(path, body, method)

    def _submit(self, path: str, body: dict[str, Any], method: str = "POST") -> Decision:
        try:
            self._call(method, path, body, [("dryRun", "All")])
        except ApiError as exc:
            message = str(exc)
            marker = "denied the request: "
            if exc.status in (400, 403) and marker in message:
                text = message.split(marker, 1)[1]
                return Decision(False, tuple(sorted(m for m in text.split("\n") if m)))
            if exc.status == 403 and "violates PodSecurity" in message:
                return Decision(False, (message,))
            raise TargetError(
                f"kube-apiserver rejected {body['kind']} {body['metadata'].get('name')}: {message}"
            ) from None
        return Decision(True, ())

    def supplementary(self, plan: Any) -> dict[str, Any]:
        """The same fixtures without the webhook: the API server's own cost, per fixture."""
        self.remove_webhook()
        rows = []
        seen = set()
        for control in plan.controls:
            for fixture in plan.fixtures.by_control[control.id]:
                if fixture.id in seen:
                    continue
                seen.add(fixture.id)
                try:
                    prepared = self.prepare(fixture.input, control.entrypoint)
                except SkipFixture:
                    continue
                for i in range(plan.iterations):
                    start = time.perf_counter_ns()
                    self.decide(prepared)
                    rows.append(
                        {
                            "fixture": fixture.id,
                            "iteration": i,
                            "latency_ns": time.perf_counter_ns() - start,
                        }
                    )
        return {"baseline": rows, "psa_agreement": self.psa_agreement(plan)}

    def psa_agreement(self, plan: Any) -> list[dict[str, Any]]:
        """The real Pod Security Admission (restricted, enforce) beside our NSA-1.4, for
        every pod the fixtures describe (a workload counts as the pod its template makes;
        PSA enforces on pods only). Runs with our webhook removed."""
        from harness.manifests import admission_review

        self._ensure_namespace(PSA_NAMESPACE)
        self._call(
            "PATCH",
            f"/api/v1/namespaces/{PSA_NAMESPACE}",
            {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
            content_type="application/merge-patch+json",
        )
        rows = []
        for fixture in plan.fixtures.unique:
            pod = _as_pod(fixture.input, PSA_NAMESPACE)
            if pod is None:
                continue
            self._ensure_references(PSA_NAMESPACE, pod)
            ours = self.opa.decide(self.opa.prepare(admission_review(pod), "controls/nsa_1_4/deny"))
            row = {"fixture": fixture.id, "nsa_1_4": ours.verdict}
            try:
                psa = self._submit(api_path(pod), pod)
                row.update(psa=psa.verdict, psa_message=" ".join(psa.messages)[:300])
            except TargetError as exc:
                row.update(psa="error", psa_message=str(exc)[:300])
            row["agree"] = row["psa"] == row["nsa_1_4"]
            rows.append(row)
        return rows

    def describe(self) -> dict[str, Any]:
        info = self.opa.describe()
        return {
            **info,
            "engine": "opa via kube-apiserver webhook",
            "kubernetes": "v1.37.2 (source build)",
            "transport": "kube-apiserver dry-run -> HTTPS webhook",
        }

    def close(self) -> None:
        if self.replicator is not None:
            self.replicator.stop()
            self.replicator = None
        if self.api is not None:
            # The webhook goes first; teardown goes on whatever happens to it.
            with contextlib.suppress(Exception):
                self.remove_webhook()
            self.api.close()
            self.api = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        self.opa.close()


def _as_pod(review: dict[str, Any], namespace: str) -> dict[str, Any] | None:
    """A CREATE of a pod-bearing object as the Pod it describes, moved to namespace."""
    request = review.get("request") or {}
    body = request.get("object") or {}
    if request.get("operation") != "CREATE" or body.get("kind") not in POD_BEARING:
        return None
    spec = dict(_pod_spec(body))
    if not spec:
        return None
    spec.pop("ephemeralContainers", None)
    meta = body.get("metadata") or {}
    annotations = dict(_pod_metadata(body).get("annotations") or {})
    pod_meta = {"name": meta.get("name", "pod"), "namespace": namespace}
    if annotations:  # AppArmor's older annotations live here, and PSA reads them
        pod_meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _pod_metadata(body: dict[str, Any]) -> dict[str, Any]:
    """The metadata of the pod a pod-bearing object makes (its own, or its template's)."""
    spec = body.get("spec") or {}
    if body["kind"] == "Pod":
        return body.get("metadata") or {}
    if body["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("metadata") or {}


def _pod_spec(body: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a pod-bearing object ({} for other kinds)."""
    spec = body.get("spec") or {}
    if body["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    if body["kind"] != "Pod":
        spec = spec.get("template", {}).get("spec", {})
    return spec if body["kind"] in REVIEWED and "containers" in spec else {}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _message(data: bytes | None) -> str:
    """The message of a Kubernetes Status body."""
    try:
        return json.loads(data or b"{}").get("message", "") or (data or b"").decode()[:200]
    except (ValueError, UnicodeDecodeError):
        return repr((data or b"")[:200])
