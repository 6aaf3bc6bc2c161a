"""`harness policy-test`: opa check --strict, opa test and line coverage over policies/;
--sync first regenerates the policy_test.rego files from the fixture suites, so the Rego
unit tests and the fixtures never drift apart."""

from __future__ import annotations

import argparse
import json

from harness.commands._shared import EXIT_FINDINGS, EXIT_OK, err, out

SUMMARY = "opa check --strict, opa test and coverage over policies/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sync",
        action="store_true",
        help="regenerate policy_test.rego files from the fixture suites",
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")


def run(args: argparse.Namespace) -> int:
    from harness.checks.regotests import run_opa_test, sync
    from harness.model.catalog import load_catalog
    from harness.model.fixtures import load_fixtures

    catalog = load_catalog()
    if args.sync:
        for path in sync(catalog, load_fixtures(catalog.with_policy), write=True):
            err.print(f"rewrote {path}", markup=False)
    result = run_opa_test(catalog)
    low = {f: pct for f, pct in result.coverage.items() if pct < 100}
    if args.format == "json":
        print(
            json.dumps(
                {
                    "passed": result.passed,
                    "failed": result.failed,
                    "coverage": result.coverage,
                    "total_coverage": result.total_coverage,
                    "uncovered_lines": result.uncovered,
                },
                indent=2,
            )
        )
    else:
        out.print(
            f"opa test: {result.passed} passed, {len(result.failed)} failed; "
            f"line coverage {result.total_coverage:.1f} % over {len(result.coverage)} policy files"
        )
        for name in result.failed:
            out.print(f"  FAIL {name}", markup=False)
        for name, pct in sorted(low.items()):
            out.print(f"  {name}: {pct:.1f} % (lines {result.uncovered.get(name)})", markup=False)
    return EXIT_FINDINGS if result.failed or low else EXIT_OK
