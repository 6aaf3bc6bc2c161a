"""`harness netpol-oracle`: NSA-2.2, CIS-5.3.2 and NSA-2.8 against cyclonus's
NetworkPolicy matcher, on pods real controllers made (harness.checks.netpoloracle)."""

from __future__ import annotations

import argparse
from typing import Any

from harness.commands._shared import oracle_arguments, run_oracle

SUMMARY = (
    "generated NetworkPolicies and workloads (local control plane, real controllers) "
    "through cyclonus's policy matcher against NSA-2.2, CIS-5.3.2 and NSA-2.8"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    oracle_arguments(parser, "netpol", 1000, "cases")
    parser.add_argument(
        "--live", type=int, default=0, metavar="N",
        help="also probe N of the cases on a throw-away kind cluster's network plugin "
        "(kube-router; needs the kind images) and compare with the matcher (default 0)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Exit 1 on any disagreement between NSA-2.2 / CIS-5.3.2 / NSA-2.8 and the matcher,
    or (with --live) between the matcher and the network plugin."""
    from harness.checks import netpoloracle
    from harness.errors import HarnessError

    if args.live < 0:
        raise HarnessError("--live must be 0 (no live probes) or more")

    def headline(s: dict[str, Any]) -> str:
        text = (
            f"netpol oracle seed {s['seed']}: {s['cases']} workloads, {s['policies']} "
            f"NetworkPolicies; {len(s['disagreements'])} disagreement(s)"
        )
        if "live" in s:
            live = s["live"]
            text += (
                f"; live on kube-router: {live['connections']} connections of "
                f"{live['cases']} cases, {len(live['disagreements'])} unlike the matcher"
            )
        return text

    def line(row: dict[str, Any]) -> str:
        return (
            f"{row['namespace']} {row['kind']} {row['control']}: cyclonus {row['oracle']}, "
            f"policy {row['ours']}"
        )

    def failed(s: dict[str, Any]) -> bool:
        return bool(s["disagreements"] or s.get("live", {}).get("disagreements"))

    return run_oracle(
        args, "netpol", "netpol oracle", args.count,
        lambda out, tick: netpoloracle.run(args.count, args.seed, out, tick, args.live),
        headline, line, failed,
    )  # fmt: skip
