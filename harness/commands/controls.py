"""`harness controls`: the control catalog (scenarios/catalog.yaml) as a table or as
JSON, with where each control's policy and fixtures live, so a reader can find them."""

from __future__ import annotations

import argparse
import json

from harness.commands._shared import EXIT_OK, Table, out
from harness.model.catalog import FRAMEWORKS, PACKAGE_ROOTS, Control, load_catalog

SUMMARY = "list the control catalog"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--framework", choices=sorted(FRAMEWORKS))
    parser.add_argument("--format", choices=["table", "json"], default="table")


def run(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    controls = catalog.framework(args.framework) if args.framework else list(catalog)
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
