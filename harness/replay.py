"""The replay loop: every fixture of every selected control, N times, against one target,
then every further series the target offers (a baseline without the webhook, mechanisms
side by side, the engine's own benchmark, Pod Security Admission beside NSA-1.4).

It alone times decisions: only Target.decide is inside the clock (prepare, select and
settle happen outside it), with the same warm-up in every series and one record per
decision. Progress, and so a checkpoint, comes at least every BLOCK decisions of a
series, between timed decisions. It knows nothing about which target it talks to.

May import: harness (errors, paths, progress), harness.model, harness.infra,
harness.targets, harness.reporting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from harness.model.catalog import Control
from harness.model.fixtures import Fixture, FixtureSet
from harness.model.modes import COMBINED_MODE, POLICY_MODE
from harness.model.policies import COMBINED as COMBINED_BY_POINT
from harness.reporting.results import Recorder
from harness.targets.base import Decision, Series, SkipFixture, Target

ProgressFn = Callable[[int, str], None]
# Decisions between two progress reports (and so checkpoints) inside one series: a long
# series reaches the log and the disk as it goes, and the report sits outside the clock.
BLOCK = 1000


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

    def cases(self, kind: str) -> list[tuple[str, str, Fixture]]:
        """(control id, query, fixture) for a series' cases (see Series.cases)."""
        if kind == "control":
            return [
                (c.id, f.entrypoint(c), f)
                for c in self.controls
                for f in self.fixtures.by_control[c.id]
            ]
        if kind == "fixture":
            seen: dict[str, tuple[str, str, Fixture]] = {}
            for c in self.controls:
                for f in self.fixtures.by_control[c.id]:
                    seen.setdefault(f.id, (c.id, f.entrypoint(c), f))
            return list(seen.values())
        if kind == "bench":
            return self._bench_cases()
        raise ValueError(f"unknown kind of series cases: {kind}")

    def _bench_cases(self) -> list[tuple[str, str, Fixture]]:
        """The first allow and deny fixture of each control, and each combined query on
        one fixture."""
        cases = []
        for control in self.controls:
            fixtures = self.fixtures.by_control[control.id]
            for expect in ("allow", "deny"):
                first = next((f for f in fixtures if f.expect == expect), None)
                if first is not None:
                    cases.append((control.id, first.entrypoint(control), first))
        if self.combined_iterations:
            for label, query, fixtures in self.combined_groups():
                cases.append((label, query, fixtures[-1]))
        return cases

    def series_iterations(self, series: Series) -> int:
        return self.iterations if series.iterations is None else series.iterations

    def series_steps(self, series: Series) -> int:
        per_case = (
            1 if series.engine_table else self.series_iterations(series) * len(series.mechanisms)
        )
        return len(self.cases(series.cases)) * per_case

    def total_steps(self, series: list[Series] | None = None) -> int:
        per_policy = sum(len(self.fixtures.by_control[c.id]) for c in self.controls)
        combined = (
            sum(len(f) for _, _, f in self.combined_groups()) if self.combined_iterations else 0
        )
        further = sum(self.series_steps(one) for one in series or [])
        return per_policy * self.iterations + combined * self.combined_iterations + further


def replay(
    target: Target,
    plan: Plan,
    recorder: Recorder,
    progress: ProgressFn,
    series: list[Series] | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> None:
    """Fill recorder: the policies, the combined queries, then each series; on
    KeyboardInterrupt or a target error the rows so far stay in it."""
    mechanism = target.mechanism
    policy = Series(POLICY_MODE, "", (mechanism,), iterations=plan.iterations)
    for control_id, query, fixture in plan.cases("control"):
        _replay_case(target, recorder, policy, plan.warmup, control_id, query, fixture, progress)
    combined = Series(COMBINED_MODE, "", (mechanism,), iterations=plan.combined_iterations)
    for label, query, fixtures in plan.combined_groups() if plan.combined_iterations else []:
        for fixture in fixtures:
            _replay_case(target, recorder, combined, plan.warmup, label, query, fixture, progress)
    for one in series or []:
        log(f"then {one.mode}: {one.label}")
        target.enter(one)
        if one.engine_table:
            _bench(target, recorder, one, plan, progress)
            continue
        one = replace(one, iterations=plan.series_iterations(one))
        warmup = plan.warmup if one.warmup else 0
        for control_id, query, fixture in plan.cases(one.cases):
            _replay_case(target, recorder, one, warmup, control_id, query, fixture, progress)
    target.select(mechanism)


def _replay_case(
    target: Target,
    recorder: Recorder,
    series: Series,
    warmup: int,
    control_id: str,
    query: str,
    fixture: Fixture,
    progress: ProgressFn,
) -> None:
    """Prepare the case for each mechanism of series (a skip is recorded for the
    policies, where it is a coverage fact), then measure it."""
    steps = int(series.iterations or 0) * len(series.mechanisms)
    where = _where(series, control_id, fixture)
    prepared: dict[str, object] = {}
    try:
        for mechanism in series.mechanisms:
            target.select(mechanism)
            prepared[mechanism] = target.prepare_series(series, fixture, query)
    except SkipFixture as exc:
        if series.mode == POLICY_MODE or series.mode == COMBINED_MODE:
            recorder.skipped.append(
                {"control": control_id, "fixture": fixture.id, "reason": str(exc)}
            )
        progress(steps, f"{where} (skipped)")
        return
    _measure(target, recorder, series, warmup, control_id, fixture, prepared, progress)


def _where(series: Series, control_id: str, fixture: Fixture) -> str:
    if series.mode in (POLICY_MODE, COMBINED_MODE):
        return f"{control_id} {fixture.id}"
    return f"{series.mode} {control_id} {fixture.id}"


def _measure(
    target: Target,
    recorder: Recorder,
    series: Series,
    warmup: int,
    control_id: str,
    fixture: Fixture,
    prepared: dict[str, object],
    progress: ProgressFn,
) -> None:
    """series.iterations decisions of the case through each mechanism in turn, the order
    shifting by one per iteration, after warm-up decisions through each."""
    mechanisms = series.mechanisms
    iterations = int(series.iterations or 0)
    for mechanism in mechanisms:
        target.select(mechanism)
        for _ in range(warmup):
            target.settle(prepared[mechanism], target.decide(prepared[mechanism]))
    # Each iteration's order, made once: the loop below only looks it up, and switches
    # mechanism only where there is more than one.
    n = len(mechanisms)
    rounds = [[(m, prepared[m]) for m in mechanisms[k:] + mechanisms[:k]] for k in range(n)]
    rotate = n > 1
    first: dict[str, Decision] = {}
    verdicts: dict[str, set[bool]] = {m: set() for m in mechanisms}
    clock = time.perf_counter_ns
    decide, settle, select, add, mode = (
        target.decide, target.settle, target.select, recorder.add, series.mode
    )  # fmt: skip
    where = _where(series, control_id, fixture)
    for block in range(0, iterations, BLOCK):
        end = min(block + BLOCK, iterations)
        for i in range(block, end):
            for mechanism, case in rounds[i % n]:
                if rotate:
                    select(mechanism)
                start = clock()
                decision = decide(case)
                elapsed = clock() - start
                settle(case, decision)
                add(mode, control_id, fixture, i, decision, elapsed, mechanism)
                verdicts[mechanism].add(decision.allowed)
                if mechanism not in first:
                    first[mechanism] = decision
        done = f" ({end:,}/{iterations:,})" if end < iterations else ""
        progress((end - block) * n, where + done)
    for mechanism, decision in first.items():
        stable = len(verdicts[mechanism]) == 1
        recorder.decide(series.mode, mechanism, control_id, fixture, decision, stable)


def _bench(
    target: Target, recorder: Recorder, series: Series, plan: Plan, progress: ProgressFn
) -> None:
    """One row per case from the engine's own benchmark (it times itself)."""
    table = recorder.tables.setdefault(str(series.engine_table), [])
    for control_id, query, fixture in plan.cases(series.cases):
        table.append(
            {
                "control": control_id,
                "fixture": fixture.id,
                **target.engine_bench(fixture.input, query),
            }
        )
        progress(1, f"{series.mode} {control_id} {fixture.id}")
