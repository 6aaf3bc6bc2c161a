"""`harness controls`: the control catalog (scenarios/catalog.yaml) as a table or as
JSON, with where each control's policy and fixtures live, so a reader can find them.
With --benchmark, the CIS rows are that version's section 5 (its ids, titles and
Automated/Manual labels), each beside the catalog control it is, or none."""

from __future__ import annotations

import argparse
import json

from harness.commands._shared import EXIT_OK, Table, out
from harness.errors import HarnessError
from harness.model.benchmarks import load_benchmarks
from harness.model.catalog import FRAMEWORKS, PACKAGE_ROOTS, Catalog, Control, load_catalog

SUMMARY = "list the control catalog"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--framework", choices=sorted(FRAMEWORKS))
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument(
        "--benchmark",
        metavar="VERSION",
        help="list CIS section 5 as this benchmark version numbers it (cis-1.23 ... cis-2.0; "
        "scenarios/benchmarks/)",
    )


def run(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    controls = catalog.framework(args.framework) if args.framework else list(catalog)
    if args.benchmark:
        return _benchmark(args, catalog, [c for c in controls if c.framework != "cis"])
    if args.format == "json":
        rows = [
            {
                "id": c.id,
                "framework": c.framework,
                "published_id": c.published_id,
                "title": c.title,
                "guideline": c.guideline,
                "assessment": c.assessment,
                "enforcement": c.enforcement,
                "scope": c.scope,
                "thesis": (
                    {"assessment": c.thesis.assessment, "verdict": c.thesis.verdict}
                    if c.thesis
                    else None  # not in the thesis's tables
                ),
                "policy": _policy_dir(c, c.enforcement) if c.policy else None,
                "also_at": {point: _policy_dir(c, point) for point, _ in c.also_at},
                "fixtures": f"scenarios/fixtures/{c.fixtures}" if c.fixtures else None,
                "rationale": c.rationale,
            }
            for c in controls
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return EXIT_OK
    table = Table(title=f"{len(controls)} controls")
    for col in ("Id", "Title", "Asses.", "Enforced at", "Thesis", "Policy", "Fixtures"):
        table.add_column(col)
    for c in controls:
        table.add_row(
            c.id,
            c.title,
            c.assessment,
            "+".join(c.points) or c.enforcement,
            f"{c.thesis.assessment} {c.thesis.verdict}" if c.thesis else "—",
            c.policy or "",
            c.fixtures or "",
        )
    out.print(table)
    return EXIT_OK


def _policy_dir(control: Control, point: str) -> str:
    return f"policies/{PACKAGE_ROOTS[point]}/{control.points[point]}"


def _benchmark(args: argparse.Namespace, catalog: Catalog, others: list[Control]) -> int:
    """The NSA rows as always (unless --framework cis), then the version's CIS rows."""
    benchmarks = load_benchmarks(catalog)
    if args.benchmark not in benchmarks:
        raise HarnessError(
            f"unknown benchmark {args.benchmark!r} (choose from {', '.join(benchmarks)})"
        )
    benchmark = benchmarks[args.benchmark]
    cis = [] if args.framework == "nsa" else list(benchmark.rows)
    if args.format == "json":
        rows: list[dict[str, str | None]] = [
            {"id": c.id, "framework": c.framework, "title": c.title} for c in others
        ]
        rows += [
            {"id": f"CIS-{r.id}", "framework": "cis", "title": r.title,
             "assessment": r.assessment, "control": r.control, "benchmark": benchmark.name}
            for r in cis
        ]  # fmt: skip
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return EXIT_OK
    table = Table(title=f"{benchmark.title}: {len(others) + len(cis)} controls")
    for col in ("Id", "Title", "CIS label", "Catalog control"):
        table.add_column(col)
    for c in others:
        table.add_row(c.id, c.title, "", c.id)
    for r in cis:
        table.add_row(f"CIS-{r.id}", r.title, r.assessment, r.control or "not in the catalog")
    out.print(table)
    return EXIT_OK
