"""Pod Security Admission as kube-apiserver v1.37 runs it: how a namespace asks for the
restricted level, and how its refusals read. One place for the fuzzer, the PSA peer and
the local target, which all send pods to it.

A refusal reads `... violates PodSecurity "restricted:latest": reason (detail), reason,
reason (detail, more)`: each forbidden reason of k8s.io/pod-security-admission's checks,
its detail in parentheses when the check gives one (admission.go joins them with ", ").
"""

from __future__ import annotations

import re
from typing import Any

ENFORCE = "pod-security.kubernetes.io/enforce"
RESTRICTED = {ENFORCE: "restricted"}  # the labels of a namespace that enforces restricted

_VIOLATIONS = re.compile(r'violates PodSecurity "[^"]*": (.*)', re.DOTALL)


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A Namespace that enforces the restricted level."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**(labels or {}), **RESTRICTED}},
    }


def refused(status: int, message: str) -> bool:
    """Whether an API error is PSA's refusal (and not another admission step's)."""
    return status == 403 and "violates PodSecurity" in message


def violations(message: str) -> dict[str, str]:
    """PSA's refusal as {forbidden reason: detail} ("" for a reason without one), split
    at commas outside parentheses; {} for any other message."""
    match = _VIOLATIONS.search(message)
    if not match:
        return {}
    found: dict[str, str] = {}
    depth, piece = 0, ""
    for ch in match.group(1) + ",":
        if ch == "," and depth == 0:
            reason, _, detail = piece.strip().partition(" (")
            if reason:
                found[reason.strip()] = detail[:-1] if detail.endswith(")") else detail
            piece = ""
            continue
        depth += (ch == "(") - (ch == ")")
        piece += ch
    return found


def forbidden_reasons(message: str) -> set[str]:
    """The forbidden reasons of a refusal."""
    return set(violations(message))


def fired_checks(message: str) -> set[str]:
    """The check ids a refusal fires (the PSA peer's): check_ids of its violations."""
    return check_ids(violations(message))


def check_ids(found: dict[str, str]) -> set[str]:
    """Each forbidden reason, and "reason: word" for each word its detail names
    (`host namespaces: hostPID` from host namespaces (hostPID=true)): how
    scenarios/peers.yaml and the fuzzer name one check of a reason that covers several
    fields."""
    ids = set(found)
    for reason, detail in found.items():
        ids |= {f"{reason}: {word}" for word in _WORDS.findall(detail)}
    return ids


_WORDS = re.compile(r"[A-Za-z][\w.]*")
