"""A real admission chain on one machine: etcd + kube-apiserver (built from source),
an OPA server registered as a ValidatingWebhookConfiguration over HTTPS, and fixtures
submitted through the kubernetes Python client with server-side dry-run.

Each decision is one API call (POST ...?dryRun=All), so its latency is what the policy
adds to deploying a resource plus the API server's own work; the baseline series repeats
every fixture with the webhook removed, for the paired difference, and the PSA series
asks the real Pod Security Admission about every pod beside NSA-1.4.

Cluster state is created as real API objects (CRDs for Istio's PeerAuthentication and
Calico's policies are installed first) and reaches OPA the way kube-mgmt brings it: a
replicator lists and watches kube-apiserver and writes data.kubernetes, and the harness
waits until each object has arrived before it submits fixtures. kube-mgmt itself is not
used here (the Go module proxy does not serve it); harness.targets.replicator plays its part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.errors import TargetError
from harness.infra import psa
from harness.model.fixtures import Fixture
from harness.model.manifests import POD_BEARING, STATE, admission_review, pod_metadata, pod_spec
from harness.model.modes import POLICY, PSA, PSA_MODE
from harness.model.policies import PolicySet
from harness.targets.base import Decision, Series, SkipFixture
from harness.targets.kube import HARNESS_NAMESPACE, WEBHOOK_PATH, KubeTarget, Site, api_path
from harness.targets.kubeobjects import ClusterObjects
from harness.targets.opa import OpaServerTarget
from harness.targets.replicator import Replicator

if TYPE_CHECKING:
    from harness.infra.controlplane import LocalControlPlane

PSA_NAMESPACE = "pac-harness-psa-restricted"
NSA_1_4_QUERY = "controls/nsa_1_4/deny"
# The real Pod Security Admission (restricted, enforce) beside our NSA-1.4, once per pod
# the fixtures describe, with the webhook removed.
PSA_AGREEMENT = Series(
    PSA_MODE,
    "every pod through Pod Security Admission (restricted) beside NSA-1.4",
    (POLICY, PSA),
    "fixture",
    iterations=1,
    warmup=False,
)


class LocalSite(Site):
    """etcd and kube-apiserver built from source on this machine, OPA beside them as a
    process, and the replicator bringing the cluster's state into OPA."""

    # The local control plane runs nothing in kube-system, so, like the thesis's webhook,
    # ours sees it (NSA-2.1 and CIS-5.6.1 deny workloads there); only the harness's own
    # namespace is left out.
    unreviewed = frozenset({HARNESS_NAMESPACE})
    mints_default_accounts = False  # no controller-manager here

    def __init__(self) -> None:
        self.opa = OpaServerTarget(with_state=False)  # state comes through the replicator
        self.cluster: LocalControlPlane | None = None
        self.replicator: Replicator | None = None

    def connect(self) -> Any:
        from kubernetes import config as kube_config

        from harness.infra.controlplane import LocalControlPlane

        self.cluster = cluster = LocalControlPlane()
        cluster.start()
        return kube_config.new_client_from_config(config_file=str(cluster.kubeconfig))

    def provision(self, objects: ClusterObjects, policy: PolicySet) -> None:
        self.opa.start(policy)
        objects.install_crds()
        self.replicator = replicator = Replicator(objects.open, self.opa.data_client, STATE)
        replicator.start()
        objects.ensure_namespace(HARNESS_NAMESPACE)

    def webhook_client_config(self) -> dict[str, Any]:
        return {"url": f"https://127.0.0.1:{self.opa.port}{WEBHOOK_PATH}"}

    def webhook_ca(self) -> bytes:
        return self.opa.ca_cert.read_bytes()

    def put_data(self, path: str, value: Any) -> None:
        self.opa.put_data(path, value)

    def get_data(self, path: str) -> Any:
        if self.replicator is not None and self.replicator.errors:
            raise TargetError(self.replicator.errors[0])
        return self.opa.get_data(path)

    def describe(self, objects: ClusterObjects) -> dict[str, Any]:
        return {
            **self.opa.describe(),
            "engine": "opa via kube-apiserver webhook",
            "kubernetes": f"{objects.server_version()} (source build)",
            "transport": "kube-apiserver dry-run -> HTTPS webhook",
        }

    def remove_created(self, objects: ClusterObjects) -> None:
        """Nothing to remove one by one: the whole control plane is thrown away. The
        replicator stops here, before the client its watches read through closes."""
        self._stop_replicator()
        objects.created = []

    def _stop_replicator(self) -> None:
        if self.replicator is not None:
            self.replicator.stop()
            self.replicator = None

    def release(self) -> None:
        self._stop_replicator()
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        self.opa.close()


class LocalTarget(KubeTarget):
    """The OPA webhook on the local control plane, then the baseline without it and Pod
    Security Admission beside NSA-1.4."""

    name = "local"

    def __init__(self) -> None:
        self.local = LocalSite()
        super().__init__(self.local)
        self.opa = self.local.opa

    # ------------------------------------------------------------ series

    def series(self) -> list[Series]:
        return [*super().series(), PSA_AGREEMENT]

    def enter(self, series: Series) -> None:
        super().enter(series)
        if series.mode == PSA_MODE:
            self.ensure_psa_namespace()

    def select(self, mechanism: str) -> None:
        """Also our NSA-1.4 on its own (OPA's data API) and Pod Security Admission."""
        if mechanism in (POLICY, PSA):
            self.mechanism = mechanism
        else:
            super().select(mechanism)

    def prepare_series(self, series: Series, fixture: Fixture, query: str) -> Any:
        """For PSA_AGREEMENT, the pod the fixture describes (a workload counts as the pod
        its template makes; PSA enforces on pods only): NSA-1.4's question to OPA, or a
        dry-run create in PSA_NAMESPACE."""
        if series.mode != PSA_MODE:
            return super().prepare_series(series, fixture, query)
        pod = as_pod(fixture.input, PSA_NAMESPACE)
        if pod is None:
            raise SkipFixture("not a pod")
        if self.mechanism == POLICY:
            return self.opa.prepare(admission_review(pod), NSA_1_4_QUERY)
        return self._psa_create(pod)

    def decide(self, prepared: Any) -> Decision:
        if self.mechanism == POLICY:
            return self.opa.decide(prepared)
        return super().decide(prepared)

    def settle(self, prepared: Any, decision: Decision) -> None:
        if self.mechanism != POLICY:
            super().settle(prepared, decision)

    def ensure_psa_namespace(self) -> None:
        """PSA_NAMESPACE with Pod Security Admission enforcing restricted."""
        self.objects.ensure_namespace(PSA_NAMESPACE)
        self.enforce_restricted(PSA_NAMESPACE)

    def enforce_restricted(self, namespace: str) -> None:
        self.objects.call(
            "PATCH",
            f"/api/v1/namespaces/{namespace}",
            {"metadata": {"labels": psa.RESTRICTED}},
            content_type="application/merge-patch+json",
        )

    def psa_decide(self, pod: dict[str, Any]) -> Decision:
        """A dry-run create of pod (from as_pod) in PSA_NAMESPACE: PSA's verdict, and its
        message when it refuses."""
        method, path, body, user = self._psa_create(pod)
        return self._submit(method, path, body, dry_run=True, user=user)

    def _psa_create(self, pod: dict[str, Any]) -> tuple[str, str, dict[str, Any], None]:
        """The create of pod in PSA_NAMESPACE, with what admission wants to exist."""
        self.objects.ensure_references(PSA_NAMESPACE, pod)
        return "POST", api_path(pod), pod, None


def as_pod(review: dict[str, Any], namespace: str) -> dict[str, Any] | None:
    """A CREATE of a pod-bearing object as the Pod it describes, moved to namespace."""
    request = review.get("request") or {}
    body = request.get("object") or {}
    if request.get("operation") != "CREATE" or body.get("kind") not in POD_BEARING:
        return None
    spec = dict(pod_spec(body))
    if not spec:
        return None
    spec.pop("ephemeralContainers", None)
    meta = body.get("metadata") or {}
    annotations = dict(pod_metadata(body).get("annotations") or {})
    pod_meta = {"name": meta.get("name", "pod"), "namespace": namespace}
    if annotations:  # AppArmor's older annotations live here, and PSA reads them
        pod_meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}
