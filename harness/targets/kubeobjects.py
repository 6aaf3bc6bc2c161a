"""One API server as the kube targets use it: requests through the kubernetes Python
client, and the objects a run makes there (namespaces, service accounts, RuntimeClasses,
CRDs), remembered so that teardown removes them, newest first.

It knows nothing about webhooks, OPA or fixtures; the kube targets compose it with a
site (where the API server and OPA are) and a webhook registration.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from harness import paths
from harness.errors import TargetError
from harness.infra import kubeapi
from harness.infra.kubeapi import ApiError, Query, api_base
from harness.model import yamlfile
from harness.model.manifests import REVIEWED, STATE, KindInfo, pod_spec
from harness.targets.base import SkipFixture

# Namespaces the harness creates carry this label; on a cluster it does not own, the
# webhook only sees namespaces that have it.
REPLAY_LABEL = "pac-harness.io/replay"
MANAGED_BY = {"app.kubernetes.io/managed-by": "pac-harness"}
ESTABLISHED_TIMEOUT_S = 30

# Kinds the targets themselves create, beside the fixtures' kinds.
OWN_KINDS = {
    "ServiceAccount": KindInfo("", "v1", "serviceaccounts"),
    "ConfigMap": KindInfo("", "v1", "configmaps"),
    "Service": KindInfo("", "v1", "services"),
    "RuntimeClass": KindInfo("node.k8s.io", "v1", "runtimeclasses", namespaced=False),
    "ValidatingWebhookConfiguration": KindInfo(
        "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", namespaced=False
    ),
    "CustomResourceDefinition": KindInfo(
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False
    ),
}


def kind_info(body: dict[str, Any]) -> KindInfo:
    kind = body["kind"]
    info = REVIEWED.get(kind) or STATE.get(kind) or OWN_KINDS.get(kind)
    if info is None:
        raise SkipFixture(f"kind {kind} has no API path here")
    return info


def api_path(body: dict[str, Any]) -> str:
    """The collection a create of body is POSTed to."""
    info = kind_info(body)
    base = api_base(info.group, info.version)
    if info.namespaced:
        ns = (body.get("metadata") or {}).get("namespace") or "default"
        return f"{base}/namespaces/{ns}/{info.resource}"
    return f"{base}/{info.resource}"


def object_path(body: dict[str, Any]) -> str:
    return f"{api_path(body)}/{body['metadata']['name']}"


def established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


class ClusterObjects:
    """Requests to one API server, and what the run created there."""

    def __init__(self, owns_cluster: bool = True, mints_default_accounts: bool = True) -> None:
        # A cluster the harness owns (local, kind) lets it use existing namespaces; on a
        # user's cluster only those it labelled are its own.
        self.owns_cluster = owns_cluster
        # Clusters with a controller-manager mint each namespace's default service
        # account; the local control plane has none, so the harness makes it there.
        self.mints_default_accounts = mints_default_accounts
        self.api: Any = None  # kubernetes.client.ApiClient, from the site's connect()
        self.namespaces: set[str] = set()
        self.foreign_namespaces: set[str] = set()
        self._accounts: set[tuple[str, str]] = set()
        self.created: list[dict[str, Any]] = []  # what teardown removes, in creation order

    # ------------------------------------------------------------ requests

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Query | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> bytes:
        return kubeapi.request(self.api, method, path, body, query, content_type, headers)

    def open(self, method: str, path: str, query: Query) -> Any:
        """A request whose response body the caller reads as a stream (watches)."""
        response = kubeapi.open_request(self.api, method, path, query=query, timeout=60)
        if response.status >= 400:
            raise ApiError(response.status, kubeapi.status_message(response.read()))
        return response

    def create(self, body: dict[str, Any], track: bool = False) -> bool:
        """Create body; False when it already existed. Tracked objects are removed at close."""
        try:
            self.call("POST", api_path(body), body)
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise TargetError(
                f"creating {body['kind']} {body['metadata'].get('name')}: {exc}"
            ) from None
        if track:
            self.created.append(body)
        return True

    def server_version(self) -> str:
        version: str = json.loads(self.call("GET", "/version")).get("gitVersion", "unknown")
        return version

    def remove_created(self) -> None:
        """Delete what this run created, newest first."""
        for body in reversed(self.created):
            with contextlib.suppress(ApiError, TargetError, SkipFixture):
                self.call("DELETE", object_path(body))
        self.created = []

    def close(self) -> None:
        if self.api is not None:
            self.api.close()
            self.api = None

    # ------------------------------------------------------------ objects a run needs

    def ensure_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        if name in self.namespaces or name in self.foreign_namespaces:
            return
        created = self.create(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": {REPLAY_LABEL: "true", **MANAGED_BY, **(labels or {})},
                },
            },
            track=True,
        )
        if not created and not self._owns(name):
            self.foreign_namespaces.add(name)
            return
        if not self.mints_default_accounts:
            self.ensure_service_account(name, "default")
        self.namespaces.add(name)

    def _owns(self, name: str) -> bool:
        """An existing namespace counts as the harness's if it carries the replay label
        (left by an earlier run) or the harness owns the whole cluster."""
        meta = json.loads(self.call("GET", f"/api/v1/namespaces/{name}"))["metadata"]
        return self.owns_cluster or meta.get("labels", {}).get(REPLAY_LABEL) == "true"

    def ensure_service_account(self, namespace: str, name: str) -> None:
        if (namespace, name) not in self._accounts:
            self.create(
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": namespace},
                }
            )
            self._accounts.add((namespace, name))

    def ensure_references(self, namespace: str, body: dict[str, Any]) -> None:
        """What admission plugins want to exist for a pod: its service account and its
        RuntimeClass (which handler the nodes run does not matter to admission)."""
        spec = pod_spec(body)
        if spec.get("serviceAccountName") not in (None, "", "default"):
            self.ensure_service_account(namespace, spec["serviceAccountName"])
        if spec.get("runtimeClassName"):
            name = spec["runtimeClassName"]
            runtime_class = {
                "apiVersion": "node.k8s.io/v1",
                "kind": "RuntimeClass",
                "metadata": {"name": name, "labels": dict(MANAGED_BY)},
                "handler": name,
            }
            self.create(runtime_class, track=True)

    def install_crds(self) -> None:
        """The CRDs of the kinds fixtures use beside built-in ones, until established (on
        clusters the harness owns: the local control plane and kind)."""
        crds = []
        for path in sorted((paths.scenarios_dir() / "crds").glob("*.yaml")):
            crds += [d for d in yamlfile.load_all(path.read_text()) if d]
        for crd in crds:
            self.create(crd)
        deadline = time.monotonic() + ESTABLISHED_TIMEOUT_S
        for crd in crds:
            name = crd["metadata"]["name"]
            while not established(json.loads(self.call("GET", f"{api_path(crd)}/{name}"))):
                if time.monotonic() > deadline:
                    raise TargetError(f"CRD {name} not established in {ESTABLISHED_TIMEOUT_S} s")
                time.sleep(0.1)

    def served_state_kinds(self) -> list[KindInfo]:
        """The state kinds this API server serves (Istio's only where its CRD is installed)."""
        kinds = []
        for info in STATE.values():
            base = api_base(info.group, info.version)
            try:
                resources = json.loads(self.call("GET", base))["resources"]
            except ApiError:
                continue
            if any(r["name"] == info.resource for r in resources):
                kinds.append(info)
        return kinds
