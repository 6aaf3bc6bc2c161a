"""Pod Security Admission, the admission plugin built into kube-apiserver, as a peer: the
pod each fixture describes, created with dry-run in a namespace that enforces the
restricted level on our local control plane (the webhook admits everything meanwhile),
and each debug-container fixture as the update it is (PSA checks the ephemeral
containers subresource too). Its check ids are PSA's own forbidden reasons
("privileged", "host namespaces", ...)."""

from __future__ import annotations

import time
from typing import Any

from harness.errors import TargetError
from harness.infra.psa import fired_checks
from harness.model.fixtures import Fixture
from harness.model.policies import PolicySet
from harness.peers.scanners import Fired
from harness.targets.kube import api_path, probe_pod
from harness.targets.local import PSA_NAMESPACE, LocalTarget, as_pod

# Debug-container updates start from pods created for real before the namespace starts
# enforcing (an old pod need not pass restricted itself), so they get one of their own.
UPDATE_NAMESPACE = "pac-harness-psa-updates"
ENFORCED_TIMEOUT_S = 30


def decidable(fixture: Fixture) -> bool:
    """PSA judges pods: a CREATE of a pod or of a workload (the pod its template makes),
    or a debug container added to a running pod."""
    return as_pod(fixture.input, PSA_NAMESPACE) is not None or debug_update(fixture) is not None


def debug_update(
    fixture: Fixture, name: str = "pod"
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the pod before, the pod with its debug container) for an ephemeral-container
    update fixture, both moved to UPDATE_NAMESPACE under name."""
    request = fixture.input.get("request") or {}
    if request.get("operation") != "UPDATE" or request.get("subResource") != "ephemeralcontainers":
        return None
    moved = []
    for body in (request.get("oldObject"), request.get("object")):
        if not body or body.get("kind") != "Pod":
            return None
        meta = {**(body.get("metadata") or {}), "name": name, "namespace": UPDATE_NAMESPACE}
        meta.pop("resourceVersion", None)
        moved.append({**body, "metadata": meta})
    return moved[0], moved[1]


def pod_security_admission(policy: PolicySet, fixtures: list[Fixture]) -> Fired:
    fired: Fired = {}
    with LocalTarget() as target:
        target.start(policy)
        target._select("NONE")
        target.ensure_psa_namespace()
        for fixture in fixtures:
            pod = as_pod(fixture.input, PSA_NAMESPACE)
            if pod is None:
                continue
            try:
                decision = target.psa_decide(pod)
            except TargetError:  # refused before admission: recorded as unreadable
                continue
            fired[fixture.id] = reasons_of(decision.messages)
        fired |= _debug_updates(target, fixtures)
    return fired


def reasons_of(messages: tuple[str, ...]) -> set[str]:
    return set().union(*(fired_checks(m) for m in messages))


def _debug_updates(target: LocalTarget, fixtures: list[Fixture]) -> Fired:
    """Each update's old pod created for real first, then the namespace set to enforce
    restricted, then every update sent with dry-run."""
    updates = {}
    for i, fixture in enumerate(fixtures):
        pair = debug_update(fixture, f"debug-{i}")
        if pair is not None:
            updates[fixture.id] = pair
    if not updates:
        return {}
    target.objects.ensure_namespace(UPDATE_NAMESPACE)
    for before, _ in updates.values():
        target.objects.ensure_references(UPDATE_NAMESPACE, before)
        target.objects.create(before)
    target.enforce_restricted(UPDATE_NAMESPACE)
    _await_enforced(target)
    fired: Fired = {}
    for fixture_id, (_, after) in updates.items():
        path = f"{api_path(after)}/{after['metadata']['name']}/ephemeralcontainers"
        try:
            decision = target._submit("PUT", path, after, dry_run=True)
        except TargetError:
            continue
        fired[fixture_id] = reasons_of(decision.messages)
    return fired


def _await_enforced(target: LocalTarget) -> None:
    """PSA reads namespace labels from an informer: wait until a privileged pod is
    refused in UPDATE_NAMESPACE."""
    probe = probe_pod("psa-probe", UPDATE_NAMESPACE, {"privileged": True})
    deadline = time.monotonic() + ENFORCED_TIMEOUT_S
    while target._submit("POST", api_path(probe), probe, dry_run=True).allowed:
        if time.monotonic() > deadline:
            raise TargetError(
                f"Pod Security Admission did not enforce {UPDATE_NAMESPACE} within "
                f"{ENFORCED_TIMEOUT_S} s"
            )
        time.sleep(0.1)
