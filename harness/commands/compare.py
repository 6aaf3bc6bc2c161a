"""`harness compare`: per-control latency of several run folders side by side, as a
table, JSON or CSV, to set targets and engines against each other."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands._shared import EXIT_OK

SUMMARY = "per-control latency of several runs side by side"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--format", choices=["table", "json", "csv"], default="table")


def run(args: argparse.Namespace) -> int:
    from harness.reporting.report import comparison_markdown, engine_comparison
    from harness.reporting.results import load_run

    table = engine_comparison([load_run(d) for d in args.run_dirs])
    if args.format == "json":
        print(table.to_json(orient="records", indent=1))
    elif args.format == "csv":
        print(table.to_csv(index=False, float_format="%.4f"), end="")
    else:
        print(comparison_markdown(table), end="")
    return EXIT_OK
