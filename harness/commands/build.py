"""`harness build`: the policies compiled into the Wasm module the wasm target ships
with (harness/compiled/), so that target runs without OPA; --check says whether it is
stale."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from harness.commands._shared import EXIT_FINDINGS, EXIT_OK, err, out

if TYPE_CHECKING:
    from harness.model.policies import PolicySet

SUMMARY = "compile the policies into the Wasm module the wasm target ships with"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the shipped module is stale"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="rebuild even when current (OPA's Wasm output differs byte-wise between builds)",
    )


def shipped_policy_set() -> PolicySet:
    """Every policy and every query a run can ask (no data: it is handed over at start)."""
    from harness.model.catalog import load_catalog
    from harness.model.policies import policy_set, queries_for

    queries = queries_for(load_catalog().with_policy)
    return policy_set(queries, config={})


def run(args: argparse.Namespace) -> int:
    from harness.targets import wasm

    policy = shipped_policy_set()
    problem = wasm.artifact_problem(policy)
    if args.check and problem:
        err.print(f"{problem}: run python -m harness build", markup=False)
        return EXIT_FINDINGS
    if args.check or (problem is None and not args.force):
        out.print(f"{wasm.COMPILED_WASM}: current (compiled from today's policies)", markup=False)
        return EXIT_OK
    manifest = wasm.build_artifact(policy)
    out.print(
        f"{wasm.COMPILED_WASM}: {len(manifest['entrypoints'])} entrypoints, "
        f"opa {manifest['opa']}, wasm sha256 {manifest['wasm_sha256'][:12]}",
        markup=False,
    )
    return EXIT_OK
