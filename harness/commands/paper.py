"""`harness paper`: the reproduction report's generated blocks, tables, figures and
numbers remade from the reference runs; --check says whether paper.md still matches them."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands._shared import EXIT_FINDINGS, EXIT_OK, err, out
from harness.errors import HarnessError

SUMMARY = "regenerate the reproduction report's tables, figures and numbers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run",
        dest="runs",
        type=Path,
        action="append",
        help="a run folder (repeatable; default: every run under results/reference/)",
    )
    parser.add_argument(
        "--paper-dir", type=Path, help="where paper.md and generated/ live (default paper/)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a generated block of paper.md differs from the runs",
    )


def run(args: argparse.Namespace) -> int:
    from harness.reporting.paper import (
        PAPER_FILE,
        Evidence,
        paper_dir,
        sections,
        stale_blocks,
        stale_files,
        stale_runs,
        write_paper,
    )

    evidence = Evidence.load(args.runs)
    directory = args.paper_dir or paper_dir()
    if args.check:
        paper = directory / PAPER_FILE
        if not paper.is_file():
            raise HarnessError(f"{paper}: not found")
        stale = stale_blocks(paper.read_text(), sections(evidence))
        for name in stale:
            err.print(f"{paper}: block {name} differs from the runs", markup=False, soft_wrap=True)
        outdated = stale_runs(evidence) + stale_files(evidence, directory)
        for line in outdated:
            err.print(line, markup=False, soft_wrap=True)
        stale += outdated
        if not stale:
            out.print(
                f"{paper}: every generated block and file, and the runs' derived files, match the runs",
                markup=False,
                soft_wrap=True,
            )
        return EXIT_FINDINGS if stale else EXIT_OK
    for path in write_paper(evidence, directory):
        out.print(str(path), markup=False)
    return EXIT_OK
