"""The same local kube-apiserver with no webhook in the way: each admission control CEL
can express is a ValidatingAdmissionPolicy (policies/vap/), evaluated inside the API
server.

All policies stay bound for the whole run, and the OPA webhook is registered beside them
with a match condition. What judges a request is chosen per request: the harness
impersonates a user whose group names the control (its policy's match condition asks for
it), or the webhook's group, or neither. Nothing is re-registered between controls or
mechanisms (the API server picks up such changes asynchronously).

The replay measures the policies. Its series (SIDE_BY_SIDE) then sends every request of
the expressed controls through nothing, the policy and the webhook in turn, iteration by
iteration, so the latency each adds is a paired difference of measurements taken
together.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from harness.errors import HarnessError, TargetError
from harness.infra.kubeapi import ApiError
from harness.model import inputs
from harness.model.cel import (
    exemption_conditions,
    policy_variables,
    resource_rules,
    reviewed_kinds,
)
from harness.model.modes import MECHANISMS_MODE, NONE, VAP, WEBHOOK
from harness.model.policies import COMBINED_QUERY, PolicySet
from harness.model.vap import (
    VapLibrary,
    VapPolicy,
    control_of,
    load_library,
    policy_name,
    vap_dir,
)
from harness.targets.base import Series, SkipFixture
from harness.targets.kube import (
    ACTIVE_TIMEOUT_S,
    MANAGED_BY,
    PROBE_NAMESPACE,
    KubeTarget,
    api_path,
    probe_pod,
)
from harness.targets.local import LocalSite

REPLAY_USER = "pac-harness-vap"
GROUP_PREFIX = "pac-harness:vap:"
PROBE_PREFIX = "pac-harness:vap-probe:"
PROBE_MESSAGE = "pac-harness probe"
WEBHOOK_GROUP = "pac-harness:webhook"
# What judges a request in the interleaved comparison.
MECHANISMS = (NONE, VAP, WEBHOOK)
# Every request of the expressed controls through nothing, the policy and the OPA webhook
# in turn, the order rotating each iteration, so that each pair of measurements shares
# the moment it was taken.
SIDE_BY_SIDE = Series(
    MECHANISMS_MODE,
    "every request of the expressed controls N times through nothing, the policy and "
    "the OPA webhook in turn",
    MECHANISMS,
)
ADMISSION = "admissionregistration.k8s.io/v1"
POLICIES_PATH = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
BINDINGS_PATH = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"
ROLE_BINDING = "pac-harness-vap-replay"


def probe_validation(policy: VapPolicy) -> dict[str, str]:
    """Denies only the harness's probe for this policy: kube-apiserver loads each policy
    on its own, asynchronously, so the replay waits until every one answers its probe."""
    return {
        "expression": f"!('{PROBE_PREFIX + policy.package}' in request.userInfo.groups)",
        "message": PROBE_MESSAGE,
    }


def probe_object(applies_to: str) -> dict[str, Any]:
    """A dry-run create each kind of policy sees: a pod, a Role or a Secret."""
    if applies_to == "pods":
        return probe_pod("vap-probe", PROBE_NAMESPACE)
    meta = {"name": "vap-probe", "namespace": PROBE_NAMESPACE}
    if applies_to == "secrets":
        return {"apiVersion": "v1", "kind": "Secret", "metadata": meta}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
            "rules": []}  # fmt: skip


def policy_objects(
    policy: VapPolicy, library: VapLibrary, config: dict[str, Any]
) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy and its binding for one control."""
    name = policy_name(policy.package)
    groups = [GROUP_PREFIX + "ALL", GROUP_PREFIX + policy.package, PROBE_PREFIX + policy.package]
    conditions = [
        {
            "name": "selected",
            "expression": " || ".join(f"'{g}' in request.userInfo.groups" for g in groups),
        }
    ]
    conditions += exemption_conditions(policy.control, config)
    variables = policy_variables(policy, library, config)
    return [
        {
            "apiVersion": ADMISSION,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name, "labels": dict(MANAGED_BY)},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": resource_rules(policy.applies_to)},
                "matchConditions": conditions,
                "variables": variables,
                "validations": [probe_validation(policy), *policy.validations],
            },
        },
        {
            "apiVersion": ADMISSION,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name, "labels": dict(MANAGED_BY)},
            "spec": {"policyName": name, "validationActions": ["Deny"]},
        },
    ]


class VapTarget(KubeTarget):
    """The policies and the OPA webhook are both registered for the whole run; which of
    them (or neither) judges a request is chosen by the groups it is made in."""

    name = "vap"

    def __init__(self) -> None:
        super().__init__(LocalSite())
        self.library = load_library()
        self._config: dict[str, Any] = {}
        self.mechanism = VAP

    def start(self, policy: PolicySet) -> None:
        self._config = policy.config
        super().start(policy)  # registers the policies (register_webhook below)
        try:
            with self._as(WEBHOOK):
                KubeTarget.register_webhook(self)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ registration

    def register_webhook(self) -> None:
        """Here: the ValidatingAdmissionPolicies and their bindings, and the binding that
        lets the replay user create what the fixtures hold (and so a fixture's own user,
        impersonated in a routing group; the control plane is thrown away at close)."""
        self.objects.create(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": ROLE_BINDING, "labels": dict(MANAGED_BY)},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": REPLAY_USER},
                    *(
                        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
                        for group in self.routing_groups()
                    ),
                ],
            }
        )
        for policy in self.library.policies.values():
            for body in policy_objects(policy, self.library, self._config):
                path = (
                    POLICIES_PATH if body["kind"] == "ValidatingAdmissionPolicy" else BINDINGS_PATH
                )
                try:
                    self.objects.call("POST", path, body)
                except ApiError as exc:
                    raise HarnessError(
                        f"{vap_dir() / (policy.package + '.yaml')}: kube-apiserver refused it: {exc}"
                    ) from None
        self._wait_for_policies()

    def webhook_match_conditions(self) -> list[dict[str, str]] | None:
        """The OPA webhook is called only for requests measured through it."""
        return [{"name": "measured", "expression": f"'{WEBHOOK_GROUP}' in request.userInfo.groups"}]

    def remove_webhook(self) -> None:
        """Nothing to delete one by one: the control plane is thrown away at close."""
        self.webhook_registered = False

    def _wait_for_policies(self) -> None:
        """Until every policy answers its own probe."""
        waiting = list(self.library.policies.values())
        deadline = time.monotonic() + ACTIVE_TIMEOUT_S
        while waiting:
            waiting = [p for p in waiting if not self._probe_denied(p)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                names = ", ".join(p.control for p in waiting)
                raise TargetError(
                    f"ValidatingAdmissionPolicies of {names} did not become active "
                    f"in {ACTIVE_TIMEOUT_S} s"
                )
            time.sleep(0.1)

    def _probe_denied(self, policy: VapPolicy) -> bool:
        """False also while the replay user's binding has not reached the RBAC
        authorizer, which learns of it asynchronously too."""
        body = probe_object(policy.applies_to)
        headers = {
            "Impersonate-User": REPLAY_USER,
            "Impersonate-Group": PROBE_PREFIX + policy.package,
        }
        try:
            self.objects.call("POST", api_path(body), body, [("dryRun", "All")], headers=headers)
        except ApiError as exc:
            if PROBE_MESSAGE in str(exc):
                return True
            if exc.status == 403 and REPLAY_USER in str(exc):
                return False
            raise TargetError(f"probing the policy of {policy.control}: {exc}") from None
        return False

    # ------------------------------------------------------------ which mechanism judges

    @contextlib.contextmanager
    def _as(self, mechanism: str) -> Iterator[None]:
        before = self.mechanism
        self.select(mechanism)
        try:
            yield
        finally:
            self.select(before)

    def routing_groups(self) -> list[str]:
        """Every group request_headers can send."""
        selections = ["ALL", "NONE", *(p.package for p in self.library.policies.values())]
        return [WEBHOOK_GROUP, *(GROUP_PREFIX + s for s in selections)]

    def grant_replay(self, namespace: str | None) -> None:
        """Nothing to grant: the routing groups hold the rights (register_webhook)."""

    def request_headers(self, user: str | None) -> dict[str, str] | None:
        """Every replayed request is made as REPLAY_USER, or the fixture's own user. Its
        group selects the control's policy (vap), the OPA webhook (which reads the control
        from data.harness.selected) or neither (the baseline); all three pay for
        impersonation and for evaluating every match condition alike."""
        if self.mechanism == WEBHOOK:
            group = WEBHOOK_GROUP
        elif self.mechanism == VAP:
            group = GROUP_PREFIX + (self._selected or "NONE")
        else:
            group = GROUP_PREFIX + "NONE"
        return {"Impersonate-User": user or REPLAY_USER, "Impersonate-Group": group}

    # ------------------------------------------------------------ decisions

    def prepare(self, review: dict[str, Any], query: str) -> Any:
        if query != COMBINED_QUERY and query.startswith("controls/"):
            control = control_of(query.split("/")[1])
            if control not in self.library.policies:
                reason = self.library.cannot.get(control)
                if reason:
                    raise SkipFixture(f"CEL cannot decide {control}: it {reason}")
                raise SkipFixture(f"no ValidatingAdmissionPolicy for {control} yet")
            kind = review["request"]["kind"]["kind"]
            if kind not in reviewed_kinds(self.library.policies[control].applies_to):
                why = self.library.partly.get(control, f"reviews no {kind}")
                raise SkipFixture(f"CEL cannot decide {control} on a {kind}: it {why}")
            if aggregated_elsewhere(review["request"]["object"]):
                raise SkipFixture(
                    f"CEL cannot decide {control} on an aggregated ClusterRole: its rules are "
                    "those of the ClusterRoles its selectors match, which CEL cannot see"
                )
        return super().prepare(review, query)

    # ------------------------------------------------------------ series

    def select(self, mechanism: str) -> None:
        """Nothing, the control's policy or the OPA webhook: only the groups of the
        following requests change (request_headers)."""
        if mechanism not in MECHANISMS:
            raise TargetError(f"{self.name}: no mechanism {mechanism!r} to select")
        self.mechanism = mechanism

    def series(self) -> list[Series]:
        return [SIDE_BY_SIDE]

    def enter(self, series: Series) -> None:
        """Nothing to set up: every mechanism stays registered for the whole run."""

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "engine": "ValidatingAdmissionPolicy (CEL in kube-apiserver)",
            "engine_version": self.server_version(),
            "comparison": "the OPA webhook and no admission check, interleaved (mode mechanisms)",
            "transport": "kube-apiserver dry-run, no webhook",
            "vap_policies": sorted(self.library.policies),
            "vap_digest": inputs.vap_digest(),
        }


def aggregated_elsewhere(body: dict[str, Any]) -> bool:
    """A ClusterRole whose rules the aggregation controller draws from other
    ClusterRoles, other than Kubernetes' own (which the CEL policies compare whole)."""
    labels = (body.get("metadata") or {}).get("labels") or {}
    return (
        body.get("kind") == "ClusterRole"
        and "aggregationRule" in body
        and labels.get("kubernetes.io/bootstrapping") != "rbac-defaults"
    )
