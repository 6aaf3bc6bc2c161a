"""What every differential oracle run (defaulting, RBAC, NetworkPolicy) leaves in its
folder: cases.jsonl.gz, one line per generated case with both sides' answers, and
summary.json, which the paper's blocks and the tests read."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_run(
    out: Path, cases: Iterable[dict[str, Any]], summary: dict[str, Any]
) -> dict[str, Any]:
    """Write the run folder; returns summary."""
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "cases.jsonl.gz", "wt") as f:
        for case in cases:
            f.write(json.dumps(case) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def verdicts(breaks: bool, denies: bool) -> dict[str, str]:
    """A disagreement's two sides: the oracle says the control breaks or holds, the
    policy denies or allows."""
    return {"oracle": "breaks" if breaks else "holds", "ours": "deny" if denies else "allow"}
