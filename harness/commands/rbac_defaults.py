"""`harness rbac-defaults`: whether policies/lib/rbac_defaults.rego, the bootstrap RBAC
objects the CIS-5.1.x policies compare with, still holds what the pinned kube-apiserver
creates; --write rewrites it when not (harness.checks.rbacdefaults)."""

from __future__ import annotations

import argparse

from harness.commands._shared import EXIT_FINDINGS, EXIT_OK, err, out

SUMMARY = "compare policies/lib/rbac_defaults.rego with what kube-apiserver bootstraps"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--write", action="store_true", help="rewrite the file when it differs")


def run(args: argparse.Namespace) -> int:
    """Exit 1 when the bootstrap RBAC data no longer matches the pinned kube-apiserver."""
    from harness.checks import rbacdefaults

    current = rbacdefaults.sync(write=args.write)
    path = rbacdefaults.rego_file()
    if current:
        out.print(f"{path} matches kube-apiserver's bootstrap RBAC objects", markup=False)
        return EXIT_OK
    verb = "rewrote" if args.write else "out of date (run with --write):"
    err.print(f"{verb} {path}", markup=False)
    return EXIT_OK if args.write else EXIT_FINDINGS
