"""Kyverno as a peer: our controls as Kyverno policies, applied offline by the pinned
Kyverno CLI to each fixture's object under review.

The policies are written once, in policies/vap/: each control CEL can express becomes a
Kyverno ValidatingPolicy (policies.kyverno.io/v1, the same CEL evaluated by Kyverno's
engine), and NSA-1.4 is Kyverno's built-in podSecurity rule (restricted, latest), as
Kyverno's users would write it. The controls CEL cannot decide have no Kyverno policy
either (they need the namespace's other objects). Check ids are the policy names.
"""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from harness.model.cel import (
    exemption_conditions,
    policy_variables,
    resource_rules,
    reviewed_kinds,
)
from harness.model.config import load_config
from harness.model.defaulting import admitted
from harness.model.fixtures import Fixture
from harness.model.vap import JUDGED_OFFLINE, VapLibrary, load_library, policy_name
from harness.peers.scanners import Fired, run_tool

PSS_CONTROL = "NSA-1.4"
BATCH = 40  # objects per CLI call


def kyverno_policies(library: VapLibrary, config: dict[str, Any]) -> list[dict[str, Any]]:
    """One Kyverno policy per control that has a CEL policy."""
    out = []
    for control, policy in sorted(library.policies.items()):
        name = policy_name(policy.package)
        if control == PSS_CONTROL:
            out.append(pod_security_policy(name))
            continue
        conditions = exemption_conditions(control, config)
        out.append(
            {
                "apiVersion": "policies.kyverno.io/v1",
                "kind": "ValidatingPolicy",
                "metadata": {"name": name},
                "spec": {
                    "validationActions": ["Deny"],
                    "matchConstraints": {"resourceRules": resource_rules(policy.applies_to)},
                    **({"matchConditions": conditions} if conditions else {}),
                    "variables": policy_variables(policy, library, config),
                    "validations": policy.validations,
                },
            }
        )
    return out


def pod_security_policy(name: str) -> dict[str, Any]:
    """Kyverno's own Pod Security Standards rule; Kyverno generates the rules for the pod
    controllers (Deployment, CronJob, ...) from it."""
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": name},
        "spec": {
            "validationFailureAction": "Enforce",
            "background": False,
            "rules": [
                {
                    "name": "restricted",
                    "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                    "validate": {"podSecurity": {"level": "restricted", "version": "latest"}},
                }
            ],
        },
    }


def subject_document(fixture: Fixture) -> dict[str, Any]:
    """The object under review as the API server would hand it on (the CLI defaults
    nothing), in the namespace the harness would create it in."""
    body = admitted(fixture.subject.body)
    meta = body.setdefault("metadata", {})
    request = fixture.input.get("request") or {}
    if request.get("namespace") and not meta.get("namespace"):
        meta["namespace"] = request["namespace"]
    return body


def kyverno(binary: Path, fixtures: list[Fixture]) -> Fired:
    """`kubectl-kyverno apply POLICIES --resource FILE --policy-report` on batches of
    fixtures whose objects under review differ in kind, namespace and name (so each
    result names one fixture), two calls at a time: the policies that failed on each
    fixture's object. RBAC objects and pods go to their own policies only: the CLI
    spends about 5 s per object on the RBAC policies (their literal of Kubernetes' own
    objects), whatever the object's kind."""
    library, config = load_library(), load_config()
    with tempfile.TemporaryDirectory(prefix="pac-harness-kyverno-") as tmp:
        policy_files = {}
        for applies_to in JUDGED_OFFLINE:
            chosen = [p for c, p in library.policies.items() if p.applies_to == applies_to]
            subset = VapLibrary({p.control: p for p in chosen}, library.shared, {}, {})
            path = Path(tmp) / f"policies-{applies_to}.yaml"
            path.write_text(yaml.safe_dump_all(kyverno_policies(subset, config), sort_keys=False))
            policy_files[applies_to] = path

        def one(numbered: tuple[int, tuple[str, dict[tuple[str, str, str], Fixture]]]) -> Fired:
            i, (applies_to, batch) = numbered
            path = Path(tmp) / f"batch-{i}.yaml"
            docs = [subject_document(f) for f in batch.values()]
            path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
            answer = run_tool(
                [str(binary), "apply", str(policy_files[applies_to]), "--resource", str(path),
                 "--policy-report", "--output-format", "json", "--remove-color"],
                ok=(0, 1),
            )  # fmt: skip
            fired: Fired = {f.id: set() for f in batch.values()}
            for key, policy in failed_results(answer):
                if key in batch:
                    fired[batch[key].id].add(policy)
            return fired

        work = [
            (applies_to, batch)
            for applies_to in ("pods", "rbac")
            for batch in batches([f for f in fixtures if reviewed_as(f) == applies_to], BATCH)
        ]
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = pool.map(one, enumerate(work))
            return {k: v for fired in results for k, v in fired.items()}


def reviewed_as(fixture: Fixture) -> str | None:
    """Which of our policies review the fixture's object; None for kinds no CEL policy
    reads (a CertificateSigningRequest), which Kyverno is then not asked about."""
    for applies_to in ("pods", "rbac"):
        if fixture.subject.kind in reviewed_kinds(applies_to):
            return applies_to
    return None


def resource_key(body: dict[str, Any]) -> tuple[str, str, str]:
    meta = body.get("metadata") or {}
    return body.get("kind", ""), meta.get("namespace") or "", meta.get("name") or ""


def batches(fixtures: list[Fixture], size: int) -> list[dict[tuple[str, str, str], Fixture]]:
    """Fixtures grouped, at most size to a group, so that no two objects in a group share
    kind, namespace and name."""
    groups: list[dict[tuple[str, str, str], Fixture]] = []
    for fixture in fixtures:
        key = resource_key(subject_document(fixture))
        group = next((g for g in groups if key not in g and len(g) < size), None)
        if group is None:
            group = {}
            groups.append(group)
        group[key] = fixture
    return groups


def failed_results(report_text: str) -> list[tuple[tuple[str, str, str], str]]:
    """(resource key, policy) for every failing result in the CLI's policy report (JSON,
    possibly after other output lines)."""
    start = report_text.find("{")
    if start < 0:
        return []
    report = json.loads(report_text[start:])
    return [
        (resource_key({"kind": res.get("kind"), "metadata": res}), result["policy"])
        for result in report.get("results") or []
        if result.get("result") == "fail"
        for res in result.get("resources") or []
    ]
