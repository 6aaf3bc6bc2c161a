"""Pod Security Admission, the admission plugin built into kube-apiserver, as a peer: the
pod each fixture describes, created with dry-run in a namespace that enforces the
restricted level on our local control plane (the webhook admits everything meanwhile).
Its check ids are PSA's own forbidden reasons ("privileged", "host namespaces", ...)."""

from __future__ import annotations

import re

from harness.errors import TargetError
from harness.model.fixtures import Fixture
from harness.model.policies import PolicySet
from harness.peers.scanners import Fired
from harness.targets.local import PSA_NAMESPACE, LocalTarget, as_pod

_VIOLATIONS = re.compile(r'violates PodSecurity "[^"]*": (.*)', re.DOTALL)


def forbidden_reasons(message: str) -> set[str]:
    """The reasons in a PSA refusal: `reason (detail), reason (detail, more)`, split at
    commas outside parentheses."""
    match = _VIOLATIONS.search(message)
    if not match:
        return set()
    reasons, depth, piece = set(), 0, ""
    for ch in match.group(1) + ",":
        if ch == "," and depth == 0:
            reasons.add(piece.split(" (", 1)[0].strip())
            piece = ""
            continue
        depth += (ch == "(") - (ch == ")")
        piece += ch
    return {r for r in reasons if r}


def decidable(fixture: Fixture) -> bool:
    """PSA judges pods: a CREATE of a pod or of a workload (the pod its template makes)."""
    return as_pod(fixture.input, PSA_NAMESPACE) is not None


def pod_security_admission(policy: PolicySet, fixtures: list[Fixture]) -> Fired:
    fired: Fired = {}
    with LocalTarget() as target:
        target.start(policy)
        target._select("NONE")
        target.ensure_psa_namespace()
        for fixture in fixtures:
            try:
                decision = target.psa_decide(as_pod(fixture.input, PSA_NAMESPACE))
            except TargetError:  # refused before admission: recorded as unreadable
                continue
            fired[fixture.id] = set().union(*(forbidden_reasons(m) for m in decision.messages))
    return fired
