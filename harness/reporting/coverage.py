"""Our status per control, computed from what ran, never asserted.

A control is enforced only if it has allow and deny fixtures and every deny fixture was
denied and every allow fixture admitted on every iteration.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from harness import paths
from harness.model.benchmarks import Benchmark
from harness.model.catalog import FRAMEWORKS, Catalog, Control
from harness.model.modes import POLICY_MODE

ENFORCED = "enforced"
PARTIAL = "partial"
FAILING = "failing"
PENDING = "pending"
OUT_OF_SCOPE = "out-of-scope"
NOT_RUN = "not-run"
# Some of the control's fixtures were measured and none wrongly, but not all: an
# interrupted run, or a target that cannot decide one of the control's enforcement points
# (a kube target runs no node fixture). No verdict either way.
INCOMPLETE = "incomplete"
NOT_ENFORCEABLE = "not-enforceable"

SYMBOLS = {
    ENFORCED: "✓",
    PARTIAL: "Partially",
    FAILING: "failing",
    PENDING: "pending",
    OUT_OF_SCOPE: "OOS",
    NOT_RUN: "not run",
    INCOMPLETE: "not complete",
    NOT_ENFORCEABLE: "×",
}

# The thesis's totals (tables 6.1, 6.2), for the summary line beside ours.
THESIS_TOTALS = {"nsa": (14, 25), "cis": (19, 30), "all": (33, 55)}
# The thesis's assessment and verdict of a control its tables do not have (catalog
# `thesis: none`).
NOT_IN_THESIS = "—"


@dataclass(frozen=True)
class ControlCoverage:
    id: str
    framework: str
    title: str
    assessment: str
    enforcement: str
    thesis_assessment: str
    thesis_verdict: str
    status: str
    allow_fixtures: int
    deny_fixtures: int
    wrong_decisions: int
    iterations: int
    rationale: str
    published_id: str | None
    condition: str | None
    # Share of the mutants in rules this control's deny reaches that the fixture tests
    # kill, among those scenarios/mutants.yaml does not explain (harness mutate), per
    # level; None without a mutation run made with the same inputs.
    mutation_rule: float | None = None
    mutation_clause: float | None = None

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]

    @property
    def differs_from_thesis(self) -> bool:
        return (
            self.thesis_verdict != NOT_IN_THESIS
            and self.symbol != self.thesis_verdict
            and self.status != NOT_RUN
        )


@dataclass(frozen=True)
class Coverage:
    controls: list[ControlCoverage]

    def framework(self, name: str) -> list[ControlCoverage]:
        return [c for c in self.controls if c.framework == name]

    def totals(self) -> dict[str, dict[str, int]]:
        out = {}
        for name in [*FRAMEWORKS, "all"]:
            rows = self.controls if name == "all" else self.framework(name)
            out[name] = {
                "enforced": sum(r.status == ENFORCED for r in rows),
                "partial": sum(r.status == PARTIAL for r in rows),
                "failing": sum(r.status == FAILING for r in rows),
                "pending": sum(r.status == PENDING for r in rows),
                "out_of_scope": sum(r.status == OUT_OF_SCOPE for r in rows),
                "not_run": sum(r.status == NOT_RUN for r in rows),
                "incomplete": sum(r.status == INCOMPLETE for r in rows),
                "not_enforceable": sum(r.status == NOT_ENFORCEABLE for r in rows),
                "total": len(rows),
                "thesis_enforceable": sum(r.thesis_verdict == "✓" for r in rows),
            }
        return out

    @property
    def differences(self) -> list[ControlCoverage]:
        return [c for c in self.controls if c.differs_from_thesis]

    def to_json(self) -> dict[str, Any]:
        return {
            "controls": [asdict(c) | {"symbol": c.symbol} for c in self.controls],
            "totals": self.totals(),
            "thesis_totals": {
                k: {"enforceable": v[0], "total": v[1]} for k, v in THESIS_TOTALS.items()
            },
        }


@dataclass(frozen=True)
class BenchmarkRow:
    """One control of a benchmark version, with our status for the catalog control it is
    (NOT_COVERED where the catalog has none)."""

    id: str  # as the version numbers it
    title: str
    assessment: str  # automated or manual, in this version
    control: str | None
    status: str
    symbol: str


NOT_COVERED = "not-covered"


def benchmark_rows(coverage: Coverage, benchmark: Benchmark) -> list[BenchmarkRow]:
    """A benchmark version's section 5 with our status per row."""
    ours = {c.id: c for c in coverage.controls}
    rows = []
    for row in benchmark.rows:
        mine = ours.get(row.control) if row.control else None
        status = mine.status if mine else NOT_COVERED
        symbol = mine.symbol if mine else "—"
        rows.append(
            BenchmarkRow(f"CIS-{row.id}", row.title, row.assessment, row.control, status, symbol)
        )
    return rows


def compute_coverage(
    catalog: Catalog,
    records: pd.DataFrame,
    planned: dict[str, int] | None = None,
    mutation: dict[str, dict[str, Any]] | None = None,
) -> Coverage:
    """planned: for a run that did not finish, how many fixtures each control was to
    replay; a control that ran fewer, none wrongly, is incomplete rather than failing.
    mutation: per-control scores of a mutation run (mutation_scores)."""
    policy = records[records["mode"] == POLICY_MODE]
    groups = {cid: frame for cid, frame in policy.groupby("control", observed=True)}
    rows = [_control_coverage(c, groups.get(c.id), planned) for c in catalog]
    if mutation:
        rows = [_with_mutation(row, mutation.get(row.id)) for row in rows]
    return Coverage(rows)


def reference_mutation_file() -> Path:
    return paths.project_root() / "results" / "reference" / "mutation" / "mutation.json"


def mutation_scores(run_inputs: dict[str, str] | None) -> dict[str, dict[str, Any]] | None:
    """The reference mutation run's per-control scores, when it was made with the same
    policies, fixtures, catalog and config as the run (equal fingerprints); a score from
    other policies would describe evidence the run did not have."""
    path = reference_mutation_file()
    if not run_inputs or not path.is_file():
        return None
    report = json.loads(path.read_text())
    if report.get("complete") is False or report.get("inputs") != run_inputs:
        return None
    scores: dict[str, dict[str, Any]] = report["controls"]
    return scores


def _with_mutation(row: ControlCoverage, scores: dict[str, Any] | None) -> ControlCoverage:
    if not scores:
        return row
    return replace(
        row, mutation_rule=scores["rule"]["score"], mutation_clause=scores["clause"]["score"]
    )


def _control_coverage(
    control: Control, frame: pd.DataFrame | None, planned: dict[str, int] | None
) -> ControlCoverage:
    allow = deny = wrong = iterations = 0
    if frame is not None and len(frame):
        fixtures = frame.drop_duplicates("fixture")
        allow = int((fixtures["expected"] == "allow").sum())
        deny = int((fixtures["expected"] == "deny").sum())
        wrong = int((~frame["correct"].astype(bool)).sum())
        iterations = len(frame)
    status = _status(control, iterations, allow, deny, wrong)
    unfinished = planned is not None and allow + deny < planned.get(control.id, 0)
    if status in (ENFORCED, PARTIAL, FAILING) and not wrong and unfinished:
        status = INCOMPLETE
    if status in (ENFORCED, PARTIAL):
        status = _every_point(control, frame, status)
    return ControlCoverage(
        id=control.id,
        framework=control.framework,
        title=control.title,
        assessment=control.assessment,
        enforcement=control.enforcement,
        thesis_assessment=control.thesis.assessment if control.thesis else NOT_IN_THESIS,
        thesis_verdict=control.thesis.verdict if control.thesis else NOT_IN_THESIS,
        status=status,
        allow_fixtures=allow,
        deny_fixtures=deny,
        wrong_decisions=wrong,
        iterations=iterations,
        rationale=control.rationale,
        published_id=control.published_id,
        condition=control.condition,
    )


def _every_point(control: Control, frame: pd.DataFrame, status: str) -> str:
    """A control decided at several points (catalog also_at) holds only where each point
    was exercised with allow and deny fixtures: one half's evidence says nothing of the
    other's. Runs recorded before the point column keep the whole-control reading."""
    if len(control.points) < 2 or "point" not in frame:
        return status
    ran = frame.drop_duplicates("fixture").groupby("point", observed=True)["expected"]
    expected = {point: set(values) for point, values in ran}
    if any(not expected.get(point) for point in control.points):
        return INCOMPLETE
    if any(expected[point] != {"allow", "deny"} for point in control.points):
        return FAILING
    return status


def _status(control: Control, iterations: int, allow: int, deny: int, wrong: int) -> str:
    if not control.has_policy:
        if control.assessment == "OOS":
            return OUT_OF_SCOPE
        return NOT_ENFORCEABLE if control.verdict == "not-enforceable" else PENDING
    if iterations == 0:
        return NOT_RUN
    if wrong or not allow or not deny:
        return FAILING
    return PARTIAL if control.scope == "partial" else ENFORCED
