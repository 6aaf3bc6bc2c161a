"""Audit existing cluster state (the thesis's limitation 4: admission is not
retroactive). Every admission policy is applied to the objects that already exist, and
the checks that only make sense on the whole state (audit controls) run once over all
of it. Input: a directory of manifests, for example the output of
`kubectl get <kinds> -A -o yaml`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.catalog import Control
from harness.check import Finding, collect, decide_objects
from harness.clusterstate import snapshot
from harness.policies import PolicySet, load_modules
from harness.targets.embedded import EmbeddedTarget

CLUSTER = "cluster"


def audit_dir(
    paths: Iterable[Path], controls: list[Control], config: dict[str, Any]
) -> list[Finding]:
    found = collect(paths)
    findings = decide_objects(found, controls, config)
    cluster_controls = [c for c in controls if c.has_policy and c.enforcement == "audit"]
    if cluster_controls:
        state = snapshot(d.body for d in found.everything)
        policy = PolicySet(load_modules(), config, {}, [c.entrypoint for c in cluster_controls])
        with EmbeddedTarget() as target:
            target.start(policy)
            for control in cluster_controls:
                decision = target.decide(target.prepare(state, control.entrypoint))
                findings.append(
                    Finding("", CLUSTER, control.id, decision.verdict, list(decision.messages))
                )
    return findings
