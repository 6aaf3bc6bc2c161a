"""The replay loop: every fixture of every selected control, N times, against one target.

It times only Target.decide (prepare happens before the clock starts) and records one
row per iteration. It knows nothing about which target it talks to.

May import: harness (errors, paths, progress), harness.model, harness.infra,
harness.targets, harness.reporting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.model.catalog import Control
from harness.model.fixtures import Fixture, FixtureSet
from harness.model.policies import COMBINED as COMBINED_BY_POINT
from harness.reporting.results import COMBINED_MODE, POLICY_MODE, Recorder
from harness.targets.base import Decision, SkipFixture, Target

ProgressFn = Callable[[int, str], None]


@dataclass(frozen=True)
class Plan:
    controls: list[Control]
    fixtures: FixtureSet
    iterations: int
    warmup: int
    combined_iterations: int

    def combined_groups(self) -> list[tuple[str, str, list[Fixture]]]:
        """(label, query, fixtures) per enforcement point with a combined query."""
        groups: dict[str, dict[str, Fixture]] = {}
        for control in self.controls:
            for fixture in self.fixtures.by_control[control.id]:
                if fixture.point in COMBINED_BY_POINT:
                    groups.setdefault(fixture.point, {}).setdefault(fixture.id, fixture)
        return [(*COMBINED_BY_POINT[p], list(f.values())) for p, f in groups.items()]

    @property
    def total_steps(self) -> int:
        per_policy = sum(len(self.fixtures.by_control[c.id]) for c in self.controls)
        combined = (
            sum(len(f) for _, _, f in self.combined_groups()) if self.combined_iterations else 0
        )
        return per_policy * self.iterations + combined * self.combined_iterations


def replay(target: Target, plan: Plan, recorder: Recorder, progress: ProgressFn) -> None:
    """Fill recorder; on KeyboardInterrupt or a target error the rows so far stay in it."""
    for control in plan.controls:
        for fixture in plan.fixtures.by_control[control.id]:
            _measure(
                target,
                recorder,
                POLICY_MODE,
                control.id,
                fixture.entrypoint(control),
                fixture,
                plan.iterations,
                plan.warmup,
                progress,
            )
    if plan.combined_iterations:
        for label, query, fixtures in plan.combined_groups():
            for fixture in fixtures:
                _measure(
                    target,
                    recorder,
                    COMBINED_MODE,
                    label,
                    query,
                    fixture,
                    plan.combined_iterations,
                    plan.warmup,
                    progress,
                )


def _measure(
    target: Target,
    recorder: Recorder,
    mode: str,
    control_id: str,
    query: str,
    fixture: Fixture,
    iterations: int,
    warmup: int,
    progress: ProgressFn,
) -> None:
    try:
        prepared = target.prepare(fixture.input, query)
    except SkipFixture as exc:
        recorder.skipped.append({"control": control_id, "fixture": fixture.id, "reason": str(exc)})
        progress(iterations, f"{control_id} {fixture.id} (skipped)")
        return
    for _ in range(warmup):
        target.settle(prepared, target.decide(prepared))
    first: Decision | None = None
    stable = True
    clock = time.perf_counter_ns
    decide, settle = target.decide, target.settle
    for i in range(iterations):
        start = clock()
        decision = decide(prepared)
        elapsed = clock() - start
        settle(prepared, decision)
        recorder.add(mode, control_id, fixture, i, decision, elapsed)
        if first is None:
            first = decision
        elif decision.allowed != first.allowed:
            stable = False
    if first is not None:
        recorder.decisions.append(
            {
                "mode": mode,
                "control": control_id,
                "fixture": fixture.id,
                "expected": fixture.expect if mode == POLICY_MODE else None,
                "decision": first.verdict,
                "stable": stable,
                "messages": list(first.messages),
            }
        )
    progress(iterations, f"{control_id} {fixture.id}")
