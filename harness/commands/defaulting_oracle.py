"""`harness defaulting-oracle`: model.defaulting against kube-apiserver's own defaulting
(harness.checks.defaultingoracle)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.commands._shared import run_oracle
from harness.errors import HarnessError

SUMMARY = (
    "fixtures, fuzzed pods and generated policies defaulted offline and by kube-apiserver "
    "(local control plane): same verdicts and fields"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed", type=int, default=1, help="makes the corpus repeatable (default 1)"
    )
    parser.add_argument(
        "--fuzz-count", type=int, default=6000, help="mutated pods (default 6000, as fuzz)"
    )
    parser.add_argument(
        "--generated",
        type=int,
        default=2000,
        help="generated NetworkPolicies and LimitRanges (default 2000)",
    )
    parser.add_argument(
        "--out", type=Path, help="run folder (default results/defaulting/<UTC timestamp>)"
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")


def run(args: argparse.Namespace) -> int:
    """Exit 1 on any disagreement between model.defaulting and kube-apiserver."""
    from harness.checks import defaultingoracle

    if args.fuzz_count < 0 or args.generated < 0:
        raise HarnessError("--fuzz-count and --generated must not be negative")
    cases = defaultingoracle.corpus(args.seed, args.fuzz_count, args.generated)

    def headline(s: dict[str, Any]) -> str:
        return (
            f"defaulting oracle seed {s['seed']}: {s['corpus']} objects, {s['compared']} "
            f"stored by kube-apiserver and compared; {len(s['disagreements'])} disagreement(s)"
        )

    def line(row: dict[str, Any]) -> str:
        return f"{row['id']} ({row['kind']}): {row['detail']}"

    return run_oracle(
        args, "defaulting", "defaulting oracle", max(len(cases), 1),
        lambda out, tick: defaultingoracle.run(cases, args.seed, out, tick), headline, line,
    )  # fmt: skip
