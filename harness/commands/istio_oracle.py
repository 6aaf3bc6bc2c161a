"""`harness istio-oracle`: NSA-2.6 against Istio's own injector and PeerAuthentication
code over generated namespaces, pods and policies (harness.checks.istiooracle)."""

from __future__ import annotations

import argparse
from typing import Any

from harness.commands._shared import oracle_arguments, run_oracle

SUMMARY = (
    "generated namespaces, pods and PeerAuthentications through Istio's own injection and "
    "mTLS code against NSA-2.6"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    oracle_arguments(parser, "istio", 1000, "pods")


def run(args: argparse.Namespace) -> int:
    """Exit 1 on any disagreement between NSA-2.6 and Istio."""
    from harness.checks import istiooracle

    def headline(s: dict[str, Any]) -> str:
        return (
            f"istio oracle seed {s['seed']}: {s['cases']} pods in {s['worlds']} meshes, "
            f"{s['peer_authentications']} PeerAuthentications; "
            f"{len(s['disagreements'])} disagreement(s)"
        )

    def line(row: dict[str, Any]) -> str:
        return (
            f"mesh {row['world']} {row['namespace']}: Istio {row['oracle']}, policy {row['ours']}"
        )

    return run_oracle(
        args, "istio", "istio oracle", args.count,
        lambda out, tick: istiooracle.run(args.count, args.seed, out, tick), headline, line,
    )  # fmt: skip
