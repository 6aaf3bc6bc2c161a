"""`harness check`: manifests checked offline against the admission policies, as files,
folders, multi-document YAML or AdmissionReview JSON, before they reach a cluster."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.commands._shared import EXIT_FINDINGS, EXIT_OK, err, id_list, print_findings

SUMMARY = "check manifests offline against the admission policies"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        help="files or folders (YAML, multi-document YAML, AdmissionReview JSON)",
    )
    parser.add_argument("--controls", type=id_list)
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("--config", type=Path)
    parser.add_argument(
        "--user",
        help="the username that writes the manifests (default: pac-harness); an "
        "AdmissionReview keeps the one it records. CIS-5.4.2 reads it for Secrets",
    )


def run(args: argparse.Namespace) -> int:
    from harness.checks.check import collect, decide_objects
    from harness.model.catalog import load_catalog
    from harness.model.config import load_config

    catalog = load_catalog()
    controls = catalog.select_for(args.controls, "check")
    config = load_config(args.config)
    found = collect(args.paths, args.user)
    if not found.subjects:
        kinds = sorted({d.kind for d in found.everything})
        what = f"only {', '.join(kinds)}" if kinds else "no Kubernetes objects"
        err.print(
            f"note: nothing to check in {', '.join(map(str, args.paths))}: {what}; check "
            "reviews Pods, workloads with a pod template, RBAC objects, "
            "CertificateSigningRequests and Secrets",
            markup=False,
            soft_wrap=True,
        )
    findings = decide_objects(found, controls, config)
    denied = [f for f in findings if f.decision == "deny"]
    if args.format == "json":
        print(json.dumps([f.to_json() for f in findings], indent=2))
    else:
        print_findings(findings)
    return EXIT_FINDINGS if denied else EXIT_OK
