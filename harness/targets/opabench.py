"""OPA's own evaluation time, without HTTP: `opa bench` per control on the run's bundle.

This is the "eval-only" column beside the embedded engine and the HTTPS round trip.
One allow and one deny fixture per control are benchmarked (each `opa bench` runs for
about a second), plus each combined query on one fixture. Beside the times, each row
keeps two counts that, unlike a time, do not move with the machine's load, so a change to
the policies shows in them from one run to the next: OPA's heap allocations per
evaluation, and the expressions it evaluates for one decision (its profiler's count).
The second follows the time more closely: the evaluator's cost is mostly per step.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.model.defaulting import admitted_review
from harness.model.fixtures import Fixture

if TYPE_CHECKING:  # type hints only: the replay loop sits above the targets
    from harness.replay import Plan

BENCH_FILE = "opa_bench.json"


def bench_cases(plan: Plan) -> list[tuple[str, str, Fixture]]:
    """(control id, data path, fixture) for the first allow and deny fixture of each control."""
    cases = []
    for control in plan.controls:
        fixtures = plan.fixtures.by_control[control.id]
        for expect in ("allow", "deny"):
            first = next((f for f in fixtures if f.expect == expect), None)
            if first is not None:
                cases.append((control.id, first.entrypoint(control), first))
    if plan.combined_iterations:
        for label, query, fixtures in plan.combined_groups():
            cases.append((label, query, fixtures[-1]))
    return cases


def run_bench(
    opa: Path, bundle: Path, plan: Plan, progress: Callable[[str, str], None] | None = None
) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="pac-harness-bench-") as tmp:
        for control_id, query, fixture in bench_cases(plan):
            path = Path(tmp) / "input.json"
            path.write_text(json.dumps(admitted_review(fixture.input)))
            row = _bench_one(opa, bundle, path, control_id, query, fixture)
            if "error" not in row:
                row["expression_evals"] = _expression_evals(opa, bundle, path, row["query"])
            rows.append(row)
            if progress:
                progress(control_id, fixture.id)
    return rows


def _bench_one(
    opa: Path, bundle: Path, input_file: Path, control_id: str, query: str, fixture: Fixture
) -> dict[str, Any]:
    ref = "data." + query.replace("/", ".")
    result = _opa(opa, "bench", bundle, input_file, ref, "--benchmem=true", "--fail=false")
    row: dict[str, Any] = {"control": control_id, "fixture": fixture.id, "query": ref}
    try:
        out = json.loads(result.stdout)
    except ValueError:
        row["error"] = (result.stderr.strip().splitlines() or ["no output"])[0]
        return row
    extra = out.get("Extra", {})
    row.update(
        n=out["N"],
        ns_per_op=out["T"] / out["N"],
        eval_p50_ns=extra.get("histogram_timer_rego_query_eval_ns_median"),
        eval_p99_ns=extra.get("histogram_timer_rego_query_eval_ns_99%"),
        allocs_per_op=out["MemAllocs"] // out["N"] if "MemAllocs" in out else None,
        bytes_per_op=out["MemBytes"] // out["N"] if "MemBytes" in out else None,
    )
    return row


def _expression_evals(opa: Path, bundle: Path, input_file: Path, ref: str) -> int | None:
    """Expressions OPA evaluates for one decision, summed over its profile (every row)."""
    result = _opa(opa, "eval", bundle, input_file, ref, "--profile", "--profile-limit=1000000")
    try:
        evals: int = sum(row["num_eval"] for row in json.loads(result.stdout).get("profile", []))
        return evals
    except (ValueError, KeyError, TypeError):
        return None


def _opa(
    opa: Path, command: str, bundle: Path, input_file: Path, ref: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    """`opa <command>` of ref on the bundle and input, with JSON output."""
    return subprocess.run(
        [str(opa), command, "--bundle", str(bundle), "--input", str(input_file), ref,
         "--format", "json", *flags],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
