"""`harness rbac-oracle`: CIS-5.1.2/3/4/8 against kube-apiserver's RBAC authorizer,
with the ClusterRole aggregation controller running (harness.checks.rbacoracle)."""

from __future__ import annotations

import argparse
from typing import Any

from harness.commands._shared import oracle_arguments, run_oracle

SUMMARY = (
    "generated ClusterRoles through the RBAC authorizer and the aggregation controller "
    "(local control plane) against CIS-5.1.2/3/4/8"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    oracle_arguments(parser, "rbac", 200, "ClusterRoles")


def run(args: argparse.Namespace) -> int:
    """Exit 1 on any disagreement between the CIS-5.1.x policies and the authorizer."""
    from harness.checks import rbacoracle

    def headline(s: dict[str, Any]) -> str:
        return (
            f"rbac oracle seed {s['seed']}: {s['roles']} ClusterRoles ({s['aggregated']} "
            f"aggregated); {len(s['disagreements'])} disagreement(s)"
        )

    def line(row: dict[str, Any]) -> str:
        return f"{row['role']} {row['control']}: authorizer {row['oracle']}, policy {row['ours']}"

    return run_oracle(
        args, "rbac", "rbac oracle", args.count,
        lambda out, tick: rbacoracle.run(args.count, args.seed, out, tick), headline, line,
    )  # fmt: skip
