"""`harness report`: a run folder's tables and figures remade from its records, so a
change to the reporting never needs the measurements taken again."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands._shared import EXIT_OK, out

SUMMARY = "regenerate tables and figures of a run folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path)


def run(args: argparse.Namespace) -> int:
    from harness.reporting.report import write_report

    report = write_report(args.run_dir)
    for path in report.written:
        out.print(str(path), markup=False)
    for line in report.summary():
        out.print(line, markup=False)
    return EXIT_OK
