"""`harness tools`: the pinned external tools (opa, etcd, kube-apiserver, kind, the node
components), installed into the cache (found, downloaded or built) and listed with their
versions, so every run uses the same binaries."""

from __future__ import annotations

import argparse
import json

from harness.commands._shared import EXIT_OK, Table, err, out

SUMMARY = "pinned external tools (opa, etcd, kube-apiserver, kind, node components)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`install` and `list`, each setting func to its handler; `tools` alone has none and
    gets the help and exit 2, as a bare `python -m harness` does."""
    parser.set_defaults(func=None)
    sub = parser.add_subparsers(title="tools commands")
    t = sub.add_parser("install", help="find, download or build a pinned tool into the cache")
    t.add_argument(
        "name",
        nargs="?",
        default="all",
        help="a tool name, all (every tool, default) or kind-images (the kind target's "
        "images, built with the container engine)",
    )
    t.set_defaults(func=install)
    t = sub.add_parser("list", help="pinned versions and where they are")
    t.add_argument("--format", choices=["table", "json"], default="table")
    t.set_defaults(func=list_tools)


def run(args: argparse.Namespace) -> int:
    """The sub-command's handler (install or list_tools), which argparse put in func."""
    code: int = args.func(args)
    return code


def install(args: argparse.Namespace) -> int:
    from harness.infra import tools

    log = lambda line: err.print(line, markup=False)  # noqa: E731
    if args.name == "kind-images":
        from harness.infra import kindimages

        kindimages.install(log)
        return EXIT_OK
    names = list(tools.TOOLS) if args.name == "all" else [args.name]
    for name in names:
        tools.install(name, log=log)
    return EXIT_OK


def list_tools(args: argparse.Namespace) -> int:
    from harness.infra import tools

    rows = tools.status()
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    table = Table()
    for col in ("tool", "version", "status", "path"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(row[k] for k in ("tool", "version", "status", "path")))
    out.print(table)
    return EXIT_OK
