"""`harness node-check`: the node gate. Every node-configuration policy is evaluated over
a node's files, and --install-unit gives the systemd unit that makes kubelet wait for it.

It runs before kubelet starts and its cold start is measured: the module imports nothing
heavy at load, the gate's own modules are imported when its parser is built or it runs,
and rich only for the table (--format json never loads it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.commands._shared import EXIT_FINDINGS, EXIT_OK, Table, err, id_list, out
from harness.errors import HarnessError

SUMMARY = "gate a node: every node-configuration policy over its files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from harness.checks.nodecheck import DEFAULT_UNIT_PATH

    parser.add_argument(
        "--root", type=Path, default=Path("/"), help="root of the node's file system (default /)"
    )
    parser.add_argument("--controls", type=id_list)
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("--config", type=Path)
    parser.add_argument(
        "--install-unit", action="store_true", help="print the systemd unit that gates kubelet"
    )
    parser.add_argument(
        "--write",
        nargs="?",
        const=str(DEFAULT_UNIT_PATH),
        metavar="PATH",
        help=f"with --install-unit: write it (default {DEFAULT_UNIT_PATH})",
    )


def run(args: argparse.Namespace) -> int:
    from harness.checks.nodecheck import check_node, systemd_unit
    from harness.model.catalog import load_catalog
    from harness.model.config import load_config

    if args.install_unit:
        unit = systemd_unit(root=str(args.root))
        if args.write:
            path = Path(args.write)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(unit)
            except OSError as exc:
                raise HarnessError(f"{path}: cannot write the unit: {exc.strerror}") from None
            err.print(
                f"wrote {path}; enable it with: systemctl daemon-reload && "
                f"systemctl enable {path.name}",
                markup=False,
            )
        else:
            print(unit, end="")
        return EXIT_OK
    if not args.root.is_dir():
        raise HarnessError(f"{args.root}: not a directory")
    catalog = load_catalog()
    controls = catalog.select_for(args.controls, "node-check")
    findings = check_node(args.root, controls, load_config(args.config))
    failed = [f for f in findings if f.decision == "deny"]
    if args.format == "json":
        print(json.dumps([f.to_json() for f in findings], indent=2))
    else:
        table = Table()
        for col in ("Control", "Result", "Findings"):
            table.add_column(col, overflow="fold")
        for f in findings:
            text = "\n".join(m.split("] ", 1)[-1] for m in f.messages)
            table.add_row(
                f.control, "[red]FAIL[/red]" if f.messages else "[green]pass[/green]", text
            )
        out.print(table)
        out.print(f"{len(findings) - len(failed)} passed, {len(failed)} failed")
    return EXIT_FINDINGS if failed else EXIT_OK
