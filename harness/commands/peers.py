"""`harness peers`: every fixture of the controls a peer maps (scenarios/peers.yaml) put
to Pod Security Admission and to published rule sets (checkov, kube-score, trivy), to
set our verdicts beside theirs (harness.peers)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.commands._shared import EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK, err, id_list, out
from harness.errors import HarnessError

SUMMARY = (
    "ask Pod Security Admission and published rule sets (scenarios/peers.yaml) about "
    "every fixture of the controls they map"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--peers", type=id_list, help="comma-separated peers (default: all)")
    parser.add_argument(
        "--controls", type=id_list, help="comma-separated control ids (default: all mapped)"
    )
    parser.add_argument(
        "--out", type=Path, help="folder for peers.json (default results/peers/<UTC timestamp>)"
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")


def run(args: argparse.Namespace) -> int:
    """Exit 1 when a selected peer could not run (its tool missing or failing); the
    others' records are written all the same. Disagreements are results, not failures."""
    from harness.model.catalog import load_catalog
    from harness.model.fixtures import load_fixtures
    from harness.model.peers import load_peers
    from harness.model.policies import policy_set, queries_for
    from harness.peers import run as peers_run
    from harness.reporting import peers as peers_report
    from harness.reporting.report import markdown_frame
    from harness.reporting.results import new_run_dir

    catalog = load_catalog()
    mappings = load_peers(catalog)
    if args.peers:
        unknown = [p for p in args.peers if p not in mappings]
        if unknown:
            raise HarnessError(f"unknown peer {unknown[0]} (known: {', '.join(mappings)})")
        mappings = {p: mappings[p] for p in args.peers}
    controls = catalog.select_for(args.controls, "peers")
    fixture_set = load_fixtures(catalog.with_policy)
    policy = policy_set(queries_for(catalog.with_policy), fixture_set.state())
    log = lambda line: err.print(line, markup=False)  # noqa: E731
    result = peers_run.run_peers(mappings, controls, fixture_set, policy, log)
    path = peers_run.write(result, args.out or new_run_dir(Path("results") / "peers"))
    if not result.meta["complete"]:
        err.print(f"interrupted; the peers that finished are in {path}", markup=False)
        return EXIT_INTERRUPTED
    doc = result.to_json()
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        out.print(markdown_frame(peers_report.per_peer(doc, len(catalog.controls))), markup=False)
        err.print(f"peers run: {path}", markup=False)
    failed = [name for name, s in result.peers.items() if s["status"] != "ran"]
    return EXIT_FINDINGS if failed else EXIT_OK
