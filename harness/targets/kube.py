"""What every target behind a real kube-apiserver shares: fixtures are submitted through
the kubernetes Python client (server-side dry-run by default), OPA is registered as a
ValidatingWebhookConfiguration, and the control a request is judged by is selected with
one data write (data.harness.selected) instead of re-registering webhooks.

A KubeTarget is composed, not derived: a Site says where the API server and OPA are (a
local control plane, a kind cluster, a user's cluster) and how OPA's data is reached;
ClusterObjects makes requests and remembers what the run created; the target registers
the webhook, selects the control and the mechanism, and submits fixtures. Replay and
recording see none of that.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from abc import ABC, abstractmethod
from typing import Any

from harness.errors import TargetError
from harness.infra import psa
from harness.infra.kubeapi import ApiError
from harness.model.manifests import HARNESS_USER, REVIEWED, STATE, KindInfo, resources_by_group
from harness.model.modes import BASELINE_MODE, NONE, WEBHOOK
from harness.model.policies import COMBINED_QUERY, PolicySet
from harness.targets.base import Decision, Series, SkipFixture, Target
from harness.targets.kubeobjects import (
    MANAGED_BY,
    REPLAY_LABEL,
    ClusterObjects,
    api_path,
    kind_info,
    object_path,
)

__all__ = ["MANAGED_BY", "REPLAY_LABEL", "api_path", "kind_info", "object_path"]

WEBHOOK_NAME = "pac-harness"
HARNESS_NAMESPACE = "pac-harness"
PROBE_NAMESPACE = "pac-harness-probe"
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


class Site(ABC):
    """Where the API server and OPA are, and how the harness reaches them: what differs
    between the local control plane, kind and a user's cluster."""

    # Server-side dry-run; False creates and deletes real objects (kind, cluster).
    dry_run = True
    # Namespaces the webhook's selector leaves out; fixtures there are skipped, not
    # recorded as allowed by a webhook that never saw them.
    unreviewed: frozenset[str] = frozenset()
    owns_cluster = True
    mints_default_accounts = True

    @abstractmethod
    def connect(self) -> Any:
        """Have an API server (starting or creating it where the harness owns it) and
        return a kubernetes ApiClient for it."""

    @abstractmethod
    def provision(self, objects: ClusterObjects, policy: PolicySet) -> None:
        """Have OPA running with the policies loaded, and what it needs in the cluster."""

    @abstractmethod
    def webhook_client_config(self) -> dict[str, Any]: ...

    @abstractmethod
    def webhook_ca(self) -> bytes: ...

    def namespace_selector(self) -> dict[str, Any]:
        """Every namespace but the unreviewed ones (a cluster the harness owns)."""
        return excluded_namespaces(sorted(self.unreviewed))

    def object_selector(self) -> dict[str, Any] | None:
        """None: every object in the selected namespaces (a cluster the harness owns)."""
        return None

    @abstractmethod
    def put_data(self, path: str, value: Any) -> None: ...

    @abstractmethod
    def get_data(self, path: str) -> Any: ...

    @abstractmethod
    def describe(self, objects: ClusterObjects) -> dict[str, Any]: ...

    def remove_created(self, objects: ClusterObjects) -> None:
        """Delete what the run created (a site whose cluster is thrown away need not)."""
        objects.remove_created()

    def teardown(self) -> contextlib.AbstractContextManager[None]:
        """What teardown runs under (a user's cluster: Ctrl-C cannot cut it short)."""
        return contextlib.nullcontext()

    def release(self) -> None:  # noqa: B027 - a site with nothing of its own to stop
        """Stop what connect() and provision() started, after the webhook and objects
        are gone."""


class KubeTarget(Target):
    """Replay through kube-apiserver at a site: OPA registered as a webhook, each fixture
    one API call."""

    mechanism = WEBHOOK

    def __init__(self, site: Site) -> None:
        self.site = site
        self.objects = ClusterObjects(site.owns_cluster, site.mints_default_accounts)
        self.webhook_registered = False
        self._selected: str | None = None
        self._live: set[tuple[str, str | None, str]] = set()
        self._incomplete: dict[str, str] = {}  # namespace -> state resource not served
        self._granted: set[str] = set()  # namespaces where REPLAY_GROUP may replay
        self._stored = b""  # the API server's answer to the last create without dry-run

    @property
    def dry_run(self) -> bool:
        return self.site.dry_run

    @property
    def unreviewed(self) -> frozenset[str]:
        return self.site.unreviewed

    def webhook_match_conditions(self) -> list[dict[str, str]] | None:
        """None: the webhook is called for every request its rules and selectors match."""
        return None

    def put_data(self, path: str, value: Any) -> None:
        self.site.put_data(path, value)

    def get_data(self, path: str) -> Any:
        return self.site.get_data(path)

    def describe(self) -> dict[str, Any]:
        return self.site.describe(self.objects)

    # ------------------------------------------------------------ lifecycle

    def start(self, policy: PolicySet) -> None:
        try:
            self.objects.api = self.site.connect()
            self.site.provision(self.objects, policy)
            self.objects.ensure_namespace(PROBE_NAMESPACE)
            self._create_state(policy.state)
            self.register_webhook()
        except BaseException:
            self.close()  # webhook first, then processes: nothing half-started is left
            raise

    def close(self) -> None:
        with self.site.teardown():
            if self.objects.api is not None:
                # The webhook goes first; teardown goes on whatever happens to it.
                with contextlib.suppress(Exception):
                    self.remove_webhook()
                self.site.remove_created(self.objects)
                self.objects.close()
            self.site.release()

    def server_version(self) -> str:
        return self.objects.server_version()

    def _create_state(self, state: dict[str, Any]) -> None:
        """The fixtures' cluster state as API objects, then wait until OPA holds all of it
        (replication is asynchronous, as with kube-mgmt). A namespace whose state includes
        a kind this cluster does not serve is left out, and its fixtures are skipped."""
        created = []
        for name, body in state.get("namespaces", {}).items():
            labels = (body.get("metadata") or {}).get("labels")
            self.objects.ensure_namespace(name, labels)
            if labels and name in self.objects.namespaces:
                created.append(body)  # policies read its labels: wait until OPA has them
        served = {info.resource for info in self.objects.served_state_kinds()}
        for resource, by_ns in state.items():
            if resource == "namespaces":
                continue
            for ns, objects in by_ns.items():
                self.objects.ensure_namespace(ns)
                if ns in self.objects.foreign_namespaces:
                    continue
                if resource not in served:
                    self._incomplete[ns] = resource
                    continue
                for body in objects.values():
                    self.objects.create(body)
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
        self.objects.create(
            webhook_configuration(
                self.site.webhook_client_config(),
                self.site.webhook_ca(),
                self.site.namespace_selector(),
                self.site.object_selector(),
                self.webhook_match_conditions(),
            )
        )
        self.webhook_registered = True
        self._wait_until(denied=True)

    def remove_webhook(self) -> None:
        if not self.webhook_registered:
            return
        try:
            self.objects.call(
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
            self.objects.ensure_namespace(ns)
            if ns in self.objects.foreign_namespaces:
                raise SkipFixture(
                    f"namespace {ns} exists and is not the harness's; the webhook ignores it"
                )
            if ns in self._incomplete:
                raise SkipFixture(
                    f"this cluster does not serve {self._incomplete[ns]}, part of {ns}'s state"
                )
        self.objects.ensure_references(ns, body)
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
            live = json.loads(self.objects.call("GET", object_path(body)))
        except ApiError:
            raise SkipFixture(
                f"this cluster has no {body['kind']} {body['metadata']['name']}"
            ) from None
        meta = {**body["metadata"], "resourceVersion": live["metadata"]["resourceVersion"]}
        return {**body, "metadata": meta}

    def labelled(self, body: dict[str, Any]) -> dict[str, Any]:
        """body with the replay label where the webhook's object selector asks for it (no
        policy reads that label)."""
        if self.site.object_selector() is None:
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
            self.objects.create(body, track=True)
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
            self.objects.create(replay_role(), track=True)
        self.objects.create(replay_binding(namespace), track=True)
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
            answer = json.loads(self.objects.call("POST", path, review, headers=headers))
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
            answer = self.objects.call(
                method, path, body, query, headers=self.request_headers(user)
            )
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
            self.objects.call("DELETE", path, query=query)
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                self.objects.call("GET", path)
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
