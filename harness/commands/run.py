"""`harness run`: the main job. Every fixture of the selected controls is replayed
against one target, timed, and written to a run folder with its coverage, tables and
figures (harness.experiment does the work; this verb parses and reports)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.commands._shared import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    err,
    id_list,
    non_negative,
    out,
    positive,
    probe_flags,
    probe_image,
    progress_for,
)
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.model.policies import PolicySet
    from harness.targets import TargetOptions
    from harness.targets.base import Target

SUMMARY = "replay every fixture against a target and report coverage and latency"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from harness.targets import target_names

    parser.add_argument("--target", default="wasm", choices=target_names())
    parser.add_argument(
        "--controls", type=id_list, help="comma-separated control ids (default: all with a policy)"
    )
    parser.add_argument(
        "--iterations",
        type=positive,
        default=1000,
        help="timed decisions per control and fixture (default 1000)",
    )
    parser.add_argument(
        "--combined-iterations",
        type=non_negative,
        default=100,
        help="timed decisions of all policies as one query, per fixture (default 100; 0 skips)",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative,
        default=10,
        help="untimed decisions before each series (default 10)",
    )
    parser.add_argument(
        "--out", type=Path, help="run folder (default results/runs/<UTC timestamp>)"
    )
    parser.add_argument(
        "--config", type=Path, help="admin config merged over scenarios/config/default.yaml"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--no-bench",
        action="store_true",
        help="skip the target's series after the replay (a baseline without the webhook, "
        "mechanisms side by side, opa bench, Pod Security Admission)",
    )
    parser.add_argument(
        "--node-check-runs",
        type=non_negative,
        default=20,
        help="whole node-check processes timed on a compliant node tree (default 20; 0 skips)",
    )
    g = parser.add_argument_group("cluster targets (kind, cluster)")
    g.add_argument(
        "--kubeconfig", type=Path, help="cluster: kubeconfig file (default ~/.kube/config)"
    )
    g.add_argument("--context", help="cluster: the context to use (required; never implicit)")
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="cluster, kind: print the objects the run would create and exit",
    )
    g.add_argument(
        "--no-dry-run",
        dest="real_objects",
        action="store_true",
        help="kind, cluster: create and delete real objects instead of server-side dry-run",
    )
    g.add_argument("--keep", action="store_true", help="kind: keep the cluster afterwards")
    g.add_argument(
        "--existing-cluster",
        choices=["fail", "reuse", "recreate"],
        default="fail",
        help="kind: what to do with a cluster of this name left by an interrupted run",
    )
    g.add_argument(
        "--cluster-name",
        help="kind: the cluster's name (default pac-harness)",
    )
    g.add_argument(
        "--calico-manifest", type=Path, help="kind: a Calico manifest you checked, used as is"
    )
    g.add_argument(
        "--cni",
        choices=["auto", "calico", "kube-router"],
        default="auto",
        help="kind: the NetworkPolicy-enforcing CNI (auto: Calico where its images can be "
        "pulled, else kube-router built here; run.json says which ran and why)",
    )
    probe_flags(g, "cluster")


def run(args: argparse.Namespace) -> int:
    from harness import experiment

    options = _target_options(args)
    if args.dry_run:
        from harness.targets import make_target

        prepared = experiment.prepare(
            args.target, args.controls, args.iterations, args.combined_iterations,
            args.warmup, args.config,
        )  # fmt: skip
        return _print_planned(make_target(args.target, options), prepared.policy)
    result = experiment.run(
        target=args.target,
        controls=args.controls,
        iterations=args.iterations,
        combined_iterations=args.combined_iterations,
        warmup=args.warmup,
        out=args.out,
        config=args.config,
        bench=not args.no_bench,
        node_check_runs=args.node_check_runs,
        options=options,
        progress=lambda: progress_for(err, args.quiet),
        log=lambda line: err.print(line, markup=False),
    )
    out_dir = result.directory
    if not result.complete:
        err.print(
            f"run incomplete ({result.error}); {result.meta.get('records', 0)} measurements "
            f"kept in {out_dir}",
            markup=False,
        )
    out.print(
        f"run folder: {out_dir}  ({result.meta['wall_seconds']:.1f} s, "
        f"{result.meta.get('records', 0)} timed decisions)",
        markup=False,
    )
    for line in result.report.summary():
        out.print(line, markup=False)
    if result.interrupted:
        return EXIT_INTERRUPTED
    if not result.complete:
        return EXIT_ERROR
    if any(c.status == "failing" for c in result.report.coverage.controls):
        return EXIT_FINDINGS
    return EXIT_OK


def _target_options(args: argparse.Namespace) -> TargetOptions:
    from harness.targets import TargetOptions

    if args.target != "cluster" and not args.probe:
        raise HarnessError("--no-probe applies to --target cluster")
    image = probe_image(args) if args.target == "cluster" else args.probe_image
    return TargetOptions(
        kubeconfig=args.kubeconfig,
        context=args.context,
        dry_run=not args.real_objects,
        keep=args.keep,
        existing=args.existing_cluster,
        calico_manifest=args.calico_manifest,
        cni=args.cni,
        cluster_name=args.cluster_name or TargetOptions.cluster_name,
        probe_image=image,
    )


def _print_planned(target: Target, policy: PolicySet) -> int:
    """--dry-run: the objects a cluster run would create, as YAML, nothing applied."""
    import yaml

    planned = getattr(target, "planned_objects", None)
    if planned is None:
        raise HarnessError(f"--dry-run applies to --target cluster or kind, not {target.name}")
    try:
        objects = planned(policy)
    finally:
        target.close()
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))  # unwrapped: YAML for tools
    return EXIT_OK
