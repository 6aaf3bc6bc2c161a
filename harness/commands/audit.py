"""`harness audit`: every policy applied to the objects a cluster already holds, as
admission is not retroactive; they are read from a live cluster (lists, read-only) or
from exported manifests (harness.checks.audit)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.commands._shared import (
    EXIT_FINDINGS,
    EXIT_OK,
    err,
    id_list,
    print_findings,
    probe_flags,
    probe_image,
)
from harness.errors import HarnessError

SUMMARY = "apply every policy to existing cluster state"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from-dir",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="manifests of the cluster's objects",
    )
    parser.add_argument(
        "--kubeconfig", type=Path, help="collect from a live cluster (lists, read-only)"
    )
    parser.add_argument("--context")
    probe_flags(parser, "live")
    parser.add_argument("--controls", type=id_list)
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("--config", type=Path)


def run(args: argparse.Namespace) -> int:
    from harness.checks.audit import audit_dir, audit_live
    from harness.model.catalog import load_catalog
    from harness.model.config import load_config

    catalog = load_catalog()
    controls = catalog.select_for(args.controls, "audit")
    config = load_config(args.config)
    if args.kubeconfig and args.from_dir:
        raise HarnessError("audit takes --kubeconfig or --from-dir, not both")
    if args.kubeconfig:
        findings = audit_live(
            args.kubeconfig, args.context, controls, config, probe_image(args), _note
        )
    elif args.from_dir:
        findings = audit_dir(args.from_dir, controls, config)
    else:
        raise HarnessError("audit needs --kubeconfig FILE [--context C] or --from-dir PATH")
    if args.format == "json":
        print(json.dumps([f.to_json() for f in findings], indent=2))
    else:
        print_findings(findings)
    return EXIT_FINDINGS if any(f.decision == "deny" for f in findings) else EXIT_OK


def _note(text: str) -> None:
    err.print(f"note: {text}", markup=False, soft_wrap=True)
