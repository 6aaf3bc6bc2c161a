"""`harness fuzz`: mutated pods through the real Pod Security Admission and the Pod
Security controls (harness.checks.fuzz)."""

from __future__ import annotations

import argparse
from typing import Any

from harness.commands._shared import oracle_arguments, run_oracle

SUMMARY = "mutated pods through the real Pod Security Admission and NSA-1.4 (local control plane)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    oracle_arguments(parser, "fuzz", 6000, "mutants")


def run(args: argparse.Namespace) -> int:
    """Exit 1 when a disagreement with PSA is not listed as deliberate in the catalog."""
    from harness.checks import fuzz

    def headline(s: dict[str, Any]) -> str:
        return (
            f"fuzz seed {s['seed']}: {s['corpus']} pods from {s['bases']} base pods, "
            f"{s['judged']} judged by PSA ({s['psa_denied']} denied, {s['invalid']} invalid); "
            f"{len(s['disagreements'])} disagreement(s), {s['unexplained']} not deliberate"
        )

    def line(row: dict[str, Any]) -> str:
        note = f" (deliberate: {row['deliberate']})" if row["deliberate"] else ""
        return (
            f"{row['control']} {row['base']} {' + '.join(row['mutations'])}: "
            f"PSA {row['psa']}, ours {row['ours']}{note}"
        )

    return run_oracle(
        args, "fuzz", "fuzz", args.count,
        lambda out, tick: fuzz.run(args.seed, args.count, out, tick), headline, line,
        failed=lambda s: bool(s["unexplained"]),
    )  # fmt: skip
