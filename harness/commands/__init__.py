"""The command line's verbs, one module per verb (as pip's commands): each defines
`SUMMARY`, `add_arguments(parser)` and `run(args) -> exit code`. `REGISTRY` names them
without importing them; the CLI imports only the module of the verb it runs, so a
command's dependencies never slow another's start (the node gate's above all).

May import: harness (errors, paths, progress), harness.model, harness.infra,
harness.targets, harness.reporting, harness.checks, harness.peers, harness.replay,
harness.experiment.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

# verb -> its one-line summary (the module's SUMMARY; a test holds them equal), the
# module being harness.commands.<verb with - as _>. `--help` lists them in this order.
REGISTRY: dict[str, str] = {
    "controls": "list the control catalog",
    "run": "replay every fixture against a target and report coverage and latency",
    "node-check": "gate a node: every node-configuration policy over its files",
    "report": "regenerate tables and figures of a run folder",
    "paper": "regenerate the reproduction report's tables, figures and numbers",
    "compare": "per-control latency of several runs side by side",
    "build": "compile the policies into the Wasm module the wasm target ships with",
    "tools": "pinned external tools (opa, etcd, kube-apiserver, kind, node components)",
    "policy-test": "opa check --strict, opa test and coverage over policies/",
    "mutate": "break the policies one change at a time and see which fixture tests notice (OPA)",
    "peers": "ask Pod Security Admission and published rule sets (scenarios/peers.yaml) about "
    "every fixture of the controls they map",
    "rbac-defaults": "compare policies/lib/rbac_defaults.rego with what kube-apiserver bootstraps",
    "controlplane": "start the local etcd + kube-apiserver and wait (for audit, --target "
    "cluster, kubectl)",
    "audit": "apply every policy to existing cluster state",
    "check": "check manifests offline against the admission policies",
    "new-control": "scaffold an admission control: catalog entry, Rego package, fixture suite "
    "and CEL stub",
    "fuzz": "mutated pods through the real Pod Security Admission and NSA-1.4 (local "
    "control plane)",
    "defaulting-oracle": "fixtures, fuzzed pods and generated policies defaulted offline "
    "and by kube-apiserver (local control plane): same verdicts and fields",
    "rbac-oracle": "generated ClusterRoles through the RBAC authorizer and the aggregation "
    "controller (local control plane) against CIS-5.1.2/3/4/8",
    "netpol-oracle": "generated NetworkPolicies and workloads (local control plane, real "
    "controllers) through cyclonus's policy matcher against NSA-2.2, CIS-5.3.2 and NSA-2.8",
    "istio-oracle": "generated namespaces, pods and PeerAuthentications through Istio's own "
    "injection and mTLS code against NSA-2.6",
    "reference": "remake every reference run in order, from this checkout, timing each step",
}


def module(verb: str) -> ModuleType:
    return importlib.import_module(f"harness.commands.{verb.replace('-', '_')}")


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], chosen: str | None
) -> None:
    """A subparser per registered verb; only the chosen verb's module is imported, to
    add its arguments and run it. func is set before add_arguments, so that a verb made
    of sub-commands (tools) can hand it to them."""
    for verb, summary in REGISTRY.items():
        parser = sub.add_parser(verb, help=summary, description=summary)
        if verb == chosen:
            command = module(verb)
            parser.set_defaults(func=command.run)
            command.add_arguments(parser)
