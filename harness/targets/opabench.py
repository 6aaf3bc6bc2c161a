"""OPA's own evaluation time, without HTTP: `opa bench` per control on the run's bundle.

This is the "eval-only" column beside the embedded engine and the HTTPS round trip.
The replay's bench series asks for one allow and one deny fixture per control (each
`opa bench` runs for about a second), plus each combined query on one fixture. Beside the times, each row
keeps two counts that, unlike a time, do not move with the machine's load, so a change to
the policies shows in them from one run to the next: OPA's heap allocations per
evaluation, and the expressions it evaluates for one decision (its profiler's count).
The second follows the time more closely: the evaluator's cost is mostly per step.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness.model.defaulting import admitted_review


def bench_one(opa: Path, bundle: Path, review: dict[str, Any], query: str) -> dict[str, Any]:
    """`opa bench` of query on review (after the API server's defaulting, as the webhook
    sees it), with the expressions one decision evaluates."""
    with tempfile.TemporaryDirectory(prefix="pac-harness-bench-") as tmp:
        path = Path(tmp) / "input.json"
        path.write_text(json.dumps(admitted_review(review)))
        row = _bench_one(opa, bundle, path, query)
        if "error" not in row:
            row["expression_evals"] = _expression_evals(opa, bundle, path, row["query"])
    return row


def _bench_one(opa: Path, bundle: Path, input_file: Path, query: str) -> dict[str, Any]:
    ref = "data." + query.replace("/", ".")
    result = _opa(opa, "bench", bundle, input_file, ref, "--benchmem=true", "--fail=false")
    row: dict[str, Any] = {"query": ref}
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
