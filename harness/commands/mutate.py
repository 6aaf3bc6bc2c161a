"""`harness mutate`: mutation testing of the policies. Each mutant breaks one rule or
clause, and OPA runs the fixture tests against it; a mutant no fixture notices is a gap
in the fixtures, unless scenarios/mutants.yaml explains it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.commands._shared import (
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Table,
    err,
    id_list,
    out,
    positive,
    progress_for,
)

SUMMARY = "break the policies one change at a time and see which fixture tests notice (OPA)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--controls", type=id_list, help="comma-separated control ids (default: all with a policy)"
    )
    parser.add_argument(
        "--level", choices=["rule", "clause"], help="only this level (default both)"
    )
    parser.add_argument(
        "--workers", type=positive, default=2, help="opa test processes at once (default 2)"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 for unexplained clause-level survivors too (default: rule level only)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for mutation.json (default results/mutation/<UTC timestamp>)",
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")


def run(args: argparse.Namespace) -> int:
    """Exit 1 when a mutant survives that scenarios/mutants.yaml does not explain (rule
    level; every level with --strict)."""
    from harness.checks import mutate
    from harness.model.catalog import load_catalog
    from harness.model.config import load_config
    from harness.model.fixtures import load_fixtures
    from harness.reporting.results import new_run_dir

    catalog = load_catalog()
    controls = catalog.select_for(args.controls, "mutate")
    fixture_set = load_fixtures(catalog.with_policy)
    folder = args.out or new_run_dir(Path("results") / "mutation")
    with progress_for(err) as bar:
        tasks: list[int] = []  # made on the first mutant, once the count is known

        def advance(done: int, total: int) -> None:
            if not tasks:
                tasks.append(bar.add_task("mutants", total=total))
            bar.update(tasks[0], advance=1)

        report = mutate.run_mutation(
            controls, fixture_set, load_config(), args.level, args.workers, advance
        )
    path = mutate.write(report, folder)
    if not report.complete:
        ran = sum(o.status != "unexercised" for o in report.outcomes)
        err.print(f"interrupted after {ran} mutants; what they gave is in {path}", markup=False)
        return EXIT_INTERRUPTED
    unexplained = report.survivors(explained=False)
    failing = [o for o in unexplained if args.strict or o.mutant.level == mutate.RULE]
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
        return EXIT_FINDINGS if failing else EXIT_OK
    table = Table(title=f"mutants per control, counted: not explained in mutants.yaml ({path})")
    for col in ("Control", "rule: killed/counted", "clause: killed/counted"):
        table.add_column(col)
    for control_id, row in report.per_control().items():
        cells = (row[lv] for lv in mutate.LEVELS)
        table.add_row(
            control_id, *(f"{c['killed']}/{c['mutants'] - c['explained']}" for c in cells)
        )
    out.print(table)
    for o in unexplained:
        m = o.mutant
        out.print(
            f"  survived ({m.level}): {m.file}:{m.row} {m.operator}: {m.original!r} -> "
            f"{m.mutated!r} [{', '.join(o.controls)}]",
            markup=False,
            soft_wrap=True,
        )
    counts = report.to_json()["counts"]
    out.print(
        ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        + f"; {len(report.survivors(explained=True))} survivors explained in "
        f"scenarios/{mutate.KNOWN_SURVIVORS}, {len(unexplained)} not",
        markup=False,
    )
    return EXIT_FINDINGS if failing else EXIT_OK
