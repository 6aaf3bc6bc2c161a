"""What every target behind a real kube-apiserver shares: fixtures are submitted through
the kubernetes Python client (server-side dry-run by default), OPA is registered as a
ValidatingWebhookConfiguration, and the control a request is judged by is selected with
one data write (data.harness.selected) instead of re-registering webhooks.

Subclasses say where the API server and OPA are (a local control plane, a kind cluster,
a user's cluster) and how OPA's data is reached; replay and recording see none of that.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from harness import paths
from harness.errors import TargetError
from harness.infra import kubeapi, psa
from harness.infra.kubeapi import ApiError, Query, api_base
from harness.model import yamlfile
from harness.model.manifests import (
    HARNESS_USER,
    REVIEWED,
    STATE,
    KindInfo,
    pod_spec,
    resources_by_group,
)
from harness.model.modes import BASELINE_MODE, NONE, WEBHOOK
from harness.model.policies import COMBINED_QUERY, PolicySet
from harness.targets.base import Decision, Series, SkipFixture, Target

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

WEBHOOK_NAME = "pac-harness"
HARNESS_NAMESPACE = "pac-harness"
PROBE_NAMESPACE = "pac-harness-probe"
# Namespaces the harness creates carry this label; on a cluster it does not own, the
# webhook only sees namespaces that have it.
REPLAY_LABEL = "pac-harness.io/replay"
MANAGED_BY = {"app.kubernetes.io/managed-by": "pac-harness"}
ACTIVE_TIMEOUT_S = 30
GONE_TIMEOUT_S = 30  # for a deleted replay object to disappear (--no-dry-run)
REPLICATION_TIMEOUT_S = 30
WEBHOOK_PATH = "/v0/data/webhook/selected"
# A fixture made by a user of its own (its suite's `user`) is replayed impersonating that
# user in this group, which a RoleBinding in the fixture's namespace gives REPLAY_ROLE:
# create and update of the reviewed kinds there, nothing else (no cluster-admin, also on
# a cluster the harness does not own).
REPLAY_GROUP = "pac-harness:replay"
REPLAY_ROLE = "pac-harness-replay"
RBAC_V1 = "rbac.authorization.k8s.io/v1"

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


def excluded_namespaces(names: list[str]) -> dict[str, Any]:
    """A selector for a cluster the harness owns: everything but these namespaces."""
    return {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": names}
        ]
    }


def replay_selector() -> dict[str, Any]:
    """For a cluster the harness does not own: only namespaces (and objects) it labelled."""
    return {"matchLabels": {REPLAY_LABEL: "true"}}


def webhook_configuration(
    client_config: dict[str, Any],
    ca_pem: bytes,
    namespace_selector: dict[str, Any],
    object_selector: dict[str, Any] | None = None,
    match_conditions: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """OPA as a validating webhook for pods, pod-bearing workloads, RBAC objects,
    certificate signing requests and Secrets.
    A namespace selector does not apply to cluster-scoped objects (ClusterRoles and
    their bindings); on a cluster the harness does not own, the object selector keeps
    the webhook to objects the harness labelled."""
    # Debug containers join a running pod through a subresource of their own.
    resources = sorted({i.resource for i in REVIEWED.values()} | {"pods/ephemeralcontainers"})
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_NAME, "labels": dict(MANAGED_BY)},
        "webhooks": [
            {
                "name": "validating-webhook.pac-harness.io",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",  # so server-side dry-run requests reach it
                "failurePolicy": "Fail",
                "timeoutSeconds": 10,
                "clientConfig": {**client_config, "caBundle": base64.b64encode(ca_pem).decode()},
                "namespaceSelector": namespace_selector,
                **({"objectSelector": object_selector} if object_selector else {}),
                **({"matchConditions": match_conditions} if match_conditions else {}),
                "rules": [
                    {
                        "operations": ["CREATE", "UPDATE"],
                        "apiGroups": sorted({i.group for i in REVIEWED.values()}),
                        "apiVersions": ["v1"],
                        "resources": resources,
                        "scope": "*",
                    }
                ],
            }
        ],
    }


class KubeTarget(Target):
    """Replay through kube-apiserver. Subclasses provide provision(), the webhook's client
    config and namespace selector, and OPA's data API (put_data/get_data)."""

    dry_run = True
    mechanism = WEBHOOK
    # Namespaces the webhook's selector leaves out; fixtures there are skipped, not
    # recorded as allowed by a webhook that never saw them.
    unreviewed: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.api: ApiClient | None = None
        self.webhook_registered = False
        self._selected: str | None = None
        self._namespaces: set[str] = set()
        self._foreign_namespaces: set[str] = set()
        self._accounts: set[tuple[str, str]] = set()
        self._live: set[tuple[str, str | None, str]] = set()
        self._incomplete: dict[str, str] = {}  # namespace -> state resource not served
        self._granted: set[str] = set()  # namespaces where REPLAY_GROUP may replay
        self.created: list[dict[str, Any]] = []  # what teardown removes, in creation order
        self._stored = b""  # the API server's answer to the last create without dry-run

    # ------------------------------------------------------------ subclass hooks

    @abstractmethod
    def provision(self, policy: PolicySet) -> None:
        """Have an API server (self.api) and OPA running, with the policies loaded."""

    @abstractmethod
    def webhook_client_config(self) -> dict[str, Any]: ...

    @abstractmethod
    def webhook_ca(self) -> bytes: ...

    @abstractmethod
    def namespace_selector(self) -> dict[str, Any]: ...

    def webhook_match_conditions(self) -> list[dict[str, str]] | None:
        """None: the webhook is called for every request its rules and selectors match."""
        return None

    def object_selector(self) -> dict[str, Any] | None:
        """None: every object in the selected namespaces (a cluster the harness owns)."""
        return None

    @abstractmethod
    def put_data(self, path: str, value: Any) -> None: ...

    @abstractmethod
    def get_data(self, path: str) -> Any: ...

    def release(self) -> None:
        """Stop what provision() started, after the webhook and objects are gone."""

    # ------------------------------------------------------------ lifecycle

    def start(self, policy: PolicySet) -> None:
        try:
            self.provision(policy)
            self._ensure_namespace(PROBE_NAMESPACE)
            self._create_state(policy.state)
            self.register_webhook()
        except BaseException:
            self.close()  # webhook first, then processes: nothing half-started is left
            raise

    def close(self) -> None:
        if self.api is not None:
            # The webhook goes first; teardown goes on whatever happens to it.
            with contextlib.suppress(Exception):
                self.remove_webhook()
            self.remove_created()
            self.api.close()
            self.api = None
        self.release()

    def remove_created(self) -> None:
        """Delete what this run created, newest first (targets whose cluster is thrown
        away keep nothing in self.created)."""
        for body in reversed(self.created):
            with contextlib.suppress(ApiError, TargetError, SkipFixture):
                self._call("DELETE", object_path(body))
        self.created = []

    # ------------------------------------------------------------ API calls

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Query | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> bytes:
        return kubeapi.request(self.api, method, path, body, query, content_type, headers)

    def _open(self, method: str, path: str, query: Query) -> Any:
        """A request whose response body the caller reads as a stream (watches)."""
        response = kubeapi.open_request(self.api, method, path, query=query, timeout=60)
        if response.status >= 400:
            raise ApiError(response.status, kubeapi.status_message(response.read()))
        return response

    def _create(self, body: dict[str, Any], track: bool = False) -> bool:
        """Create body; False when it already existed. Tracked objects are removed at close."""
        try:
            self._call("POST", api_path(body), body)
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
        version: str = json.loads(self._call("GET", "/version")).get("gitVersion", "unknown")
        return version

    # ------------------------------------------------------------ cluster objects

    def _ensure_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        if name in self._namespaces or name in self._foreign_namespaces:
            return
        created = self._create(
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
            self._foreign_namespaces.add(name)
            return
        self.ensure_default_service_account(name)
        self._namespaces.add(name)

    def _owns(self, name: str) -> bool:
        """An existing namespace counts as the harness's if it carries the replay label
        (left by an earlier run) or the target owns the whole cluster."""
        labels = json.loads(self._call("GET", f"/api/v1/namespaces/{name}"))["metadata"].get(
            "labels", {}
        )
        return self.owns_cluster or labels.get(REPLAY_LABEL) == "true"

    owns_cluster = True

    def ensure_default_service_account(self, namespace: str) -> None:
        """Clusters with a controller-manager mint it; the local control plane has none."""

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
        spec = pod_spec(body)
        if spec.get("serviceAccountName") not in (None, "", "default"):
            self._ensure_service_account(namespace, spec["serviceAccountName"])
        if spec.get("runtimeClassName"):
            name = spec["runtimeClassName"]
            runtime_class = {
                "apiVersion": "node.k8s.io/v1",
                "kind": "RuntimeClass",
                "metadata": {"name": name, "labels": dict(MANAGED_BY)},
                "handler": name,
            }
            self._create(runtime_class, track=True)

    def install_crds(self) -> None:
        """The CRDs of the kinds fixtures use beside built-in ones, until established (on
        clusters the harness owns: the local control plane and kind)."""
        crds = []
        for path in sorted((paths.scenarios_dir() / "crds").glob("*.yaml")):
            crds += [d for d in yamlfile.load_all(path.read_text()) if d]
        for crd in crds:
            self._create(crd)
        deadline = time.monotonic() + ACTIVE_TIMEOUT_S
        for crd in crds:
            name = crd["metadata"]["name"]
            while not established(json.loads(self._call("GET", f"{api_path(crd)}/{name}"))):
                if time.monotonic() > deadline:
                    raise TargetError(f"CRD {name} not established in {ACTIVE_TIMEOUT_S} s")
                time.sleep(0.1)

    def served_state_kinds(self) -> list[KindInfo]:
        """The state kinds this API server serves (Istio's only where its CRD is installed)."""
        kinds = []
        for info in STATE.values():
            base = api_base(info.group, info.version)
            try:
                resources = json.loads(self._call("GET", base))["resources"]
            except ApiError:
                continue
            if any(r["name"] == info.resource for r in resources):
                kinds.append(info)
        return kinds

    def _create_state(self, state: dict[str, Any]) -> None:
        """The fixtures' cluster state as API objects, then wait until OPA holds all of it
        (replication is asynchronous, as with kube-mgmt). A namespace whose state includes
        a kind this cluster does not serve is left out, and its fixtures are skipped."""
        created = []
        for name, body in state.get("namespaces", {}).items():
            labels = (body.get("metadata") or {}).get("labels")
            self._ensure_namespace(name, labels)
            if labels and name in self._namespaces:
                created.append(body)  # policies read its labels: wait until OPA has them
        served = {info.resource for info in self.served_state_kinds()}
        for resource, by_ns in state.items():
            if resource == "namespaces":
                continue
            for ns, objects in by_ns.items():
                self._ensure_namespace(ns)
                if ns in self._foreign_namespaces:
                    continue
                if resource not in served:
                    self._incomplete[ns] = resource
                    continue
                for body in objects.values():
                    self._create(body)
                    created.append(body)
        deadline = time.monotonic() + REPLICATION_TIMEOUT_S
        for body in created:
            path = replicated_path(STATE[body["kind"]], body)
            last_error = ""
            while True:
                try:
                    if self.get_data(path) is not None:
                        break
                except ApiError as exc:
                    # "Not yet" until the deadline: on kind, one read through the API
                    # server's proxy to OPA was refused ("resolve_deny: denied
                    # destination", not an API server message) early in a run of a
                    # setup that had passed many times before.
                    last_error = f" (last read: HTTP {exc.status}, {exc})"
                if time.monotonic() > deadline:
                    raise TargetError(
                        f"{path} was not replicated into OPA within {REPLICATION_TIMEOUT_S} s"
                        + last_error
                    )
                time.sleep(0.05)

    # ------------------------------------------------------------ webhook

    def register_webhook(self) -> None:
        self._create(
            webhook_configuration(
                self.webhook_client_config(),
                self.webhook_ca(),
                self.namespace_selector(),
                self.object_selector(),
                self.webhook_match_conditions(),
            )
        )
        self.webhook_registered = True
        self._wait_until(denied=True)

    def remove_webhook(self) -> None:
        if not self.webhook_registered:
            return
        try:
            self._call(
                "DELETE",
                "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
                + WEBHOOK_NAME,
            )
        except ApiError as exc:
            if exc.status != 404:
                raise TargetError(f"removing the webhook: {exc}") from None
        self.webhook_registered = False
        self._wait_until(denied=False)

    def _wait_until(self, denied: bool) -> None:
        """kube-apiserver learns about webhook changes asynchronously: probe until it has.
        The probe is a bare pod in the harness's own probe namespace, which every control
        together (ALL) denies."""
        probe = self.labelled(probe_pod("probe", PROBE_NAMESPACE))
        self._select("ALL")
        deadline = time.monotonic() + ACTIVE_TIMEOUT_S
        last_error = ""
        while time.monotonic() < deadline:
            try:
                allowed = self._submit("POST", api_path(probe), probe, dry_run=True).allowed
            except TargetError as exc:
                # On a real cluster the Service can lag the Deployment: kube-proxy has not
                # yet routed it, and the call is refused. That is "not active yet".
                last_error = f" (last: {exc})"
            else:
                if (not allowed) == denied:
                    return
            time.sleep(0.2)
        state = "active" if denied else "inactive"
        raise TargetError(f"the webhook did not become {state} in {ACTIVE_TIMEOUT_S} s{last_error}")

    def _select(self, selection: str) -> None:
        if selection != self._selected:
            self.put_data("harness/selected", selection)
            self._selected = selection

    # ------------------------------------------------------------ decisions

    def prepare(self, review: dict[str, Any], query: str) -> Any:
        request = review.get("request") or {}
        body = request.get("object")
        if body is None:
            raise SkipFixture("not an admission request")
        ns = (body.get("metadata") or {}).get("namespace") or "default"
        if kind_info(body).namespaced:
            if ns in self.unreviewed:
                raise SkipFixture(
                    f"the webhook leaves namespace {ns} out, so that an outage of it cannot "
                    "block the cluster's own workloads"
                )
            self._ensure_namespace(ns)
            if ns in self._foreign_namespaces:
                raise SkipFixture(
                    f"namespace {ns} exists and is not the harness's; the webhook ignores it"
                )
            if ns in self._incomplete:
                raise SkipFixture(
                    f"this cluster does not serve {self._incomplete[ns]}, part of {ns}'s state"
                )
        self._ensure_references(ns, body)
        body = self.labelled(body)
        method, path = "POST", api_path(body)
        operation = request.get("operation", "CREATE")
        if operation == "UPDATE" and request.get("subResource") == "ephemeralcontainers":
            self._ensure_live(self.labelled(request["oldObject"]))
            method, path = "PUT", f"{path}/{body['metadata']['name']}/ephemeralcontainers"
        elif operation == "UPDATE" and not request.get("subResource"):
            previous = request.get("oldObject")
            if previous is not None and previous != request["object"]:
                # The fixture says what the object was before: the harness makes it so,
                # and updates it unconditionally (no resourceVersion), since a controller
                # may write it in between (kube-controller-manager fills a token Secret).
                if not self.dry_run:
                    raise SkipFixture(
                        "an UPDATE of an existing object is replayed with dry-run only"
                    )
                self._ensure_live(self.labelled(previous))
                method, path = "PUT", object_path(body)
            else:
                method, path, body = "PUT", object_path(body), self._as_update(body)
        elif operation != "CREATE":
            raise SkipFixture(f"{operation} {request.get('subResource') or ''} is not replayed")
        user = (request.get("userInfo") or {}).get("username")
        if user == HARNESS_USER:
            user = None
        if user is not None:
            self.grant_replay(ns if kind_info(body).namespaced else None)
        self._select("ALL" if query == COMBINED_QUERY else query.split("/")[1])
        return method, path, body, user

    def _as_update(self, body: dict[str, Any]) -> dict[str, Any]:
        """An UPDATE of an object the cluster already has (Kubernetes' own RBAC objects,
        which the API server reconciles at start): body at the live resourceVersion.
        Only dry-run: a real update would change an object the harness does not own."""
        if not self.dry_run:
            raise SkipFixture("an UPDATE of an existing object is replayed with dry-run only")
        try:
            live = json.loads(self._call("GET", object_path(body)))
        except ApiError:
            raise SkipFixture(
                f"this cluster has no {body['kind']} {body['metadata']['name']}"
            ) from None
        meta = {**body["metadata"], "resourceVersion": live["metadata"]["resourceVersion"]}
        return {**body, "metadata": meta}

    def labelled(self, body: dict[str, Any]) -> dict[str, Any]:
        """body with the replay label where the webhook's object selector asks for it (no
        policy reads that label)."""
        if self.object_selector() is None:
            return body
        meta = dict(body.get("metadata") or {})
        meta["labels"] = {**(meta.get("labels") or {}), REPLAY_LABEL: "true"}
        return {**body, "metadata": meta}

    def _ensure_live(self, body: dict[str, Any]) -> None:
        """The object an update starts from (the pod an ephemeral-container update debugs,
        a Secret as it was before), created for real (nothing needs to run a pod) while
        the webhook lets everything through."""
        key = (body["kind"], body["metadata"].get("namespace"), body["metadata"]["name"])
        if key not in self._live:
            self._select("NONE")
            self._create(body, track=True)
            self._live.add(key)

    def decide(self, prepared: Any) -> Decision:
        method, path, body, user = prepared
        return self._submit(method, path, body, self.dry_run, user)

    def request_headers(self, user: str | None) -> dict[str, str] | None:
        """Extra headers on every replayed request: the impersonation of a fixture's own
        user (the vap target also selects its policy through the requester's groups)."""
        if user is None:
            return None
        return {"Impersonate-User": user, "Impersonate-Group": REPLAY_GROUP}

    def grant_replay(self, namespace: str | None) -> None:
        """Let REPLAY_GROUP create and update the reviewed kinds in namespace, and wait
        until the API server's authorizer knows it (it learns of RBAC objects
        asynchronously). Cluster-scoped objects would need a cluster-wide grant, which a
        replay does not take."""
        if namespace is None:
            raise SkipFixture("a cluster-scoped object is not replayed as another user")
        if namespace in self._granted:
            return
        self._select("NONE")  # the webhook judges RBAC objects too; these are the harness's
        if not self._granted:
            self._create(replay_role(), track=True)
        self._create(replay_binding(namespace), track=True)
        self._granted.add(namespace)
        self._wait_authorized(namespace)

    def _wait_authorized(self, namespace: str) -> None:
        """Until a member of REPLAY_GROUP may create pods in namespace."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {"namespace": namespace, "verb": "create", "resource": "pods"}
            },
        }
        path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        headers = {"Impersonate-User": REPLAY_ROLE, "Impersonate-Group": REPLAY_GROUP}
        deadline = time.monotonic() + ACTIVE_TIMEOUT_S
        while time.monotonic() < deadline:
            answer = json.loads(self._call("POST", path, review, headers=headers))
            if (answer.get("status") or {}).get("allowed"):
                return
            time.sleep(0.1)
        raise TargetError(
            f"the replay group's RoleBinding in {namespace} was not in force in {ACTIVE_TIMEOUT_S} s"
        )

    def _submit(
        self, method: str, path: str, body: dict[str, Any], dry_run: bool, user: str | None = None
    ) -> Decision:
        query = [("dryRun", "All")] if dry_run else []
        try:
            answer = self._call(method, path, body, query, headers=self.request_headers(user))
        except ApiError as exc:
            message = str(exc)
            marker = "denied the request: "
            if exc.status in (400, 403) and marker in message:
                text = message.split(marker, 1)[1]
                return Decision(False, tuple(sorted(m for m in text.split("\n") if m)))
            policy_marker = "denied request: "  # a ValidatingAdmissionPolicy's, first failure
            if exc.status in (403, 422) and "ValidatingAdmissionPolicy" in message:
                text = message.split(policy_marker, 1)[-1]
                return Decision(False, (text,), all_messages=False)
            if psa.refused(exc.status, message):
                return Decision(False, (message,))
            if exc.status == 403 and "failed quota" in message:
                # ResourceQuota is the last admission step, after every webhook: the
                # webhook (if any) admitted the object; the quota the fixture's state
                # puts in its namespace refused it (a cluster whose controller-manager
                # fills in quota usage enforces it).
                return Decision(True, ())
            raise TargetError(
                f"kube-apiserver rejected {body['kind']} {body['metadata'].get('name')}: {message}"
            ) from None
        if not dry_run:
            self._stored = answer  # read in settle(), outside the timed decision
        return Decision(True, ())

    def settle(self, prepared: Any, decision: Decision) -> None:
        """Without dry-run an allowed create made a real object: delete it (grace period
        0, dependents collected in the background) and wait until it is gone, before the
        next iteration creates it again. On a cluster with a garbage collector an object
        can linger a moment (a Job's default propagation is orphan, which finalizes)."""
        method, _, body, _ = prepared
        if self.dry_run or not decision.allowed or method != "POST":
            return
        # the name the API server stored it under (generateName makes a new one per call)
        name = json.loads(self._stored)["metadata"]["name"]
        path = f"{api_path(body)}/{name}"
        query = [("gracePeriodSeconds", "0"), ("propagationPolicy", "Background")]
        with contextlib.suppress(ApiError):
            self._call("DELETE", path, query=query)
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                self._call("GET", path)
            except ApiError:
                return  # gone
            time.sleep(0.05)
        raise TargetError(f"{body['kind']} {name} was not deleted in "
                          f"{GONE_TIMEOUT_S} s")  # fmt: skip

    # ------------------------------------------------------------ series

    def select(self, mechanism: str) -> None:
        """The webhook, or nothing: the baseline series removes the webhook first."""
        if mechanism == NONE and self.webhook_registered:
            raise TargetError("no decision without the webhook while it is registered")
        if mechanism not in (WEBHOOK, NONE):
            raise TargetError(f"{self.name}: no mechanism {mechanism!r} to select")
        self.mechanism = mechanism

    def series(self) -> list[Series]:
        return [BASELINE]

    def enter(self, series: Series) -> None:
        """Every series after the replay runs without the webhook."""
        self.remove_webhook()


# The same fixtures with no webhook in the path: the API server's own cost, per fixture,
# for the paired difference.
BASELINE = Series(
    BASELINE_MODE, "every fixture again without the webhook (the baseline)", (NONE,), "fixture"
)


def probe_pod(
    name: str, namespace: str, security_context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A bare pod the harness submits (with dry-run) to learn whether an admission check
    is in force yet: every control together denies it, and a security context makes it
    fail a given Pod Security level too."""
    container: dict[str, Any] = {"name": "c", "image": "registry.k8s.io/pause:3.10"}
    if security_context:
        container["securityContext"] = security_context
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [container]},
    }


def replay_role() -> dict[str, Any]:
    """What an impersonated fixture user may do: create and update the reviewed kinds."""
    return {
        "apiVersion": RBAC_V1,
        "kind": "ClusterRole",
        "metadata": {"name": REPLAY_ROLE, "labels": dict(MANAGED_BY)},
        "rules": [
            {"apiGroups": [group], "resources": resources, "verbs": ["create", "update"]}
            for group, resources in resources_by_group(REVIEWED).items()
        ],
    }


def replay_binding(namespace: str) -> dict[str, Any]:
    """REPLAY_ROLE for REPLAY_GROUP in one replay namespace only."""
    return {
        "apiVersion": RBAC_V1,
        "kind": "RoleBinding",
        "metadata": {"name": REPLAY_ROLE, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": REPLAY_ROLE,
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": REPLAY_GROUP}
        ],
    }


def replicated_path(info: KindInfo, obj: dict[str, Any]) -> str:
    """Where kube-mgmt keeps obj under OPA's data (its default replicate path)."""
    meta = obj.get("metadata") or {}
    if info.namespaced:
        return f"kubernetes/{info.resource}/{meta.get('namespace')}/{meta['name']}"
    return f"kubernetes/{info.resource}/{meta['name']}"


def established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
