"""The one measurement path: the replay times the policies and every series a target
offers alike, records them as modes, reports progress inside long series and keeps what
it measured when a run is killed."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from harness.model.fixtures import load_fixtures
from harness.replay import BLOCK, Plan, replay
from harness.reporting import results
from harness.reporting.report import psa_summary, webhook_overhead
from harness.reporting.results import Recorder, RunWriter, load_run, records_frame
from harness.targets.base import Decision, Series, SkipFixture, Target

SIDE_BY_SIDE = Series("mechanisms", "a and b in turn", ("a", "b"))
ONCE = Series("once", "each fixture once through b", ("b",), "fixture", iterations=1, warmup=False)
BENCH = Series("bench", "the engine's own timing", ("a",), "bench", engine_table="bench")


class Fake(Target):
    """Allows through mechanism a, denies through b; remembers every call in order."""

    name = "fake"
    mechanism = "a"

    def __init__(self, series: list[Series], fail_after: int | None = None) -> None:
        self._series = series
        self.calls: list[tuple[str, str]] = []
        self.entered: list[str] = []
        self.fail_after = fail_after

    def start(self, policy: Any) -> None:
        pass

    def select(self, mechanism: str) -> None:
        assert mechanism in ("a", "b")
        self.mechanism = mechanism

    def series(self) -> list[Series]:
        return self._series

    def enter(self, series: Series) -> None:
        self.entered.append(series.mode)

    def prepare_series(self, series: Series, fixture: Any, query: str) -> Any:
        if series.mode == "once" and fixture.expect == "allow":
            raise SkipFixture("only deny fixtures here")
        return (self.mechanism, fixture.id)

    def decide(self, prepared: Any) -> Decision:
        mechanism, _ = prepared
        assert mechanism == self.mechanism, "decided what another mechanism prepared"
        self.calls.append(prepared)
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            raise KeyboardInterrupt
        return Decision(mechanism == "a", () if mechanism == "a" else ("no",))

    def engine_bench(self, review: dict[str, Any], query: str) -> dict[str, Any]:
        return {"query": query, "eval_p50_ns": 1}

    def describe(self) -> dict[str, Any]:
        return {"engine": "fake"}


@pytest.fixture(scope="module")
def plan(catalog) -> Plan:
    controls = [catalog.get("NSA-1.1")]
    return Plan(controls, load_fixtures(controls), iterations=3, warmup=2, combined_iterations=0)


def test_series_are_modes_of_the_records_with_their_mechanisms(plan):
    target = Fake([SIDE_BY_SIDE, ONCE, BENCH])
    recorder = Recorder()
    steps: list[int] = []
    replay(target, plan, recorder, lambda n, _what: steps.append(n), target.series())
    frame = records_frame(recorder, {})
    cases = len(plan.cases("control"))
    denies = sum(1 for _, _, f in plan.cases("fixture") if f.expect == "deny")
    sizes = frame.groupby(["mode", "mechanism"], observed=True).size().to_dict()
    assert sizes == {
        ("policy", "a"): 3 * cases,
        ("mechanisms", "a"): 3 * cases,
        ("mechanisms", "b"): 3 * cases,
        ("once", "b"): denies,
    }
    assert sum(steps) == plan.total_steps(target.series())
    assert target.entered == ["mechanisms", "once", "bench"]
    assert [r["control"] for r in recorder.tables["bench"]] == [
        c for c, _, _ in plan.cases("bench")
    ]
    assert target.mechanism == "a"  # selected back after the series
    first = {(d["mode"], d["mechanism"], d["fixture"]): d["decision"] for d in recorder.decisions}
    assert {v for (mode, m, _), v in first.items() if m == "b"} == {"deny"}
    # only the replay proper records skips: those are coverage facts
    assert recorder.skipped == []


def test_mechanisms_take_turns_the_order_shifting_each_iteration(plan):
    target = Fake([SIDE_BY_SIDE])
    replay(target, plan, Recorder(), lambda n, w: None, target.series())
    fixture = plan.cases("control")[0][2].id
    timed = [m for m, f in target.calls if f == fixture][-6:]  # after 2 x 2 warm-ups ...
    assert timed == ["a", "b", "b", "a", "a", "b"]


def test_progress_reaches_the_log_inside_a_long_series(catalog):
    controls = [catalog.get("NSA-1.1")]
    fixtures = load_fixtures(controls)
    long = Plan(controls, fixtures, iterations=BLOCK * 2 + 5, warmup=0, combined_iterations=0)
    target = Fake([])
    seen: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        target.fail_after = BLOCK * 2 + 1
        replay(target, long, Recorder(), lambda n, what: seen.append(what))
    assert seen[0].endswith(f"({BLOCK:,}/{BLOCK * 2 + 5:,})")
    assert len(seen) == 2


def test_a_killed_run_keeps_every_modes_rows(plan, tmp_path, monkeypatch):
    monkeypatch.setattr(results, "CHUNK_ROWS", 1)
    # the policies (2 warm-ups and 3 decisions a case), then two cases side by side
    target = Fake([SIDE_BY_SIDE], fail_after=5 * len(plan.cases("control")) + 20)
    recorder = Recorder()
    writer = RunWriter(tmp_path, {"schema": results.SCHEMA_VERSION, "target": "fake"})
    writer.start()
    with pytest.raises(KeyboardInterrupt):
        replay(target, plan, recorder, lambda n, w: writer.checkpoint(recorder), target.series())
    run = load_run(tmp_path)  # from the chunks: the run never finished
    assert len(run.policy_records) == 3 * len(plan.cases("control"))
    assert len(run.mode_records("mechanisms")) > 0


def test_a_schema_1_run_folder_reads_as_today(plan, tmp_path):
    """Before the series were modes they had files of their own."""
    recorder = Recorder()
    target = Fake([])
    replay(target, plan, recorder, lambda n, w: None)
    frame = records_frame(recorder, {"target": "local"}).drop(columns="mechanism")
    frame.to_parquet(tmp_path / results.RECORDS_FILE, index=False)
    (tmp_path / results.RUN_FILE).write_text(json.dumps({"schema": 1, "target": "local"}))
    (tmp_path / results.DECISIONS_FILE).write_text("[]")
    fixture = str(frame["fixture"].iloc[0])
    base = [{"fixture": fixture, "iteration": i, "latency_ns": 1} for i in range(3)]
    (tmp_path / "baseline.json").write_text(json.dumps(base))
    psa = [
        {"fixture": fixture, "nsa_1_4": "deny", "psa": "deny", "psa_message": "m", "agree": True}
    ]
    (tmp_path / "psa_agreement.json").write_text(json.dumps(psa))
    run = load_run(tmp_path)
    assert set(run.policy_records["mechanism"]) == {"webhook"}
    assert len(run.mode_records("baseline")) == 3
    assert set(run.mode_records("baseline")["control"]) == {"NSA-1.1"}
    assert psa_summary(run).to_dict("records") == psa
    overhead = webhook_overhead(run)
    assert overhead["n"].tolist() == [3]
    assert isinstance(overhead, pd.DataFrame)
