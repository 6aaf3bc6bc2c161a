"""The command line's verbs, one module per verb (as pip's commands): each defines
`SUMMARY`, `add_arguments(parser)` and `run(args) -> exit code`. `REGISTRY` names them
without importing them; the CLI imports only the module of the verb it runs, so a
command's dependencies never slow another's start (the node gate's above all).

The verbs still defined in harness/cli.py move here one by one.

May import: harness (errors, paths, progress), harness.model, harness.infra,
harness.targets, harness.reporting, harness.checks, harness.peers, harness.replay,
harness.experiment.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

# verb -> its one-line summary (the module's SUMMARY; a test holds them equal), the
# module being harness.commands.<verb with - as _>.
REGISTRY: dict[str, str] = {
    "fuzz": "mutated pods through the real Pod Security Admission and NSA-1.4 (local "
    "control plane)",
    "defaulting-oracle": "fixtures, fuzzed pods and generated policies defaulted offline "
    "and by kube-apiserver (local control plane): same verdicts and fields",
    "rbac-oracle": "generated ClusterRoles through the RBAC authorizer and the aggregation "
    "controller (local control plane) against CIS-5.1.2/3/4/8",
    "netpol-oracle": "generated NetworkPolicies and workloads (local control plane, real "
    "controllers) through cyclonus's policy matcher against NSA-2.2 and CIS-5.3.2",
    "reference": "remake every reference run in order, from this checkout, timing each step",
}


def module(verb: str) -> ModuleType:
    return importlib.import_module(f"harness.commands.{verb.replace('-', '_')}")


def add_parsers(sub: argparse._SubParsersAction, chosen: str | None) -> None:
    """A subparser per registered verb; only the chosen verb's module is imported, to
    add its arguments and run it."""
    for verb, summary in REGISTRY.items():
        parser = sub.add_parser(verb, help=summary, description=summary)
        if verb == chosen:
            command = module(verb)
            command.add_arguments(parser)
            parser.set_defaults(func=command.run)
