"""Command line: `python -m harness <command>`.

Heavy imports (pandas, matplotlib) happen inside the commands that need them: the
node-check gate runs before kubelet and its cold start is part of what we measure.

Exit codes: 0 success; 1 the check found denials (check) or a control failed its
fixtures (run); 2 bad input or a target error (partial results are kept);
130 interrupted (partial results are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from harness import __version__
from harness.checks.nodecheck import DEFAULT_UNIT_PATH
from harness.commands._shared import (
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Table,
    err,
    out,
    progress_for,
)
from harness.errors import HarnessError
from harness.model.catalog import FRAMEWORKS, load_catalog


def _terminate(signum, frame) -> None:
    """SIGTERM takes the same road as Ctrl-C: targets are closed, measurements are kept."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    parser = build_parser(_verb(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return args.func(args)
    except HarnessError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as a shell pipeline expects.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _verb(argv: Sequence[str]) -> str | None:
    """The command named on the line (its first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """Every verb's parser; of those in harness.commands only the chosen verb's module is
    imported (see harness/commands/__init__.py)."""
    from harness import commands
    from harness.targets import target_names

    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"pac-harness {__version__}")
    sub = parser.add_subparsers(title="commands")

    p = sub.add_parser("controls", help="list the control catalog")
    p.add_argument("--framework", choices=sorted(FRAMEWORKS))
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_controls)

    p = sub.add_parser(
        "run", help="replay every fixture against a target and report coverage and latency"
    )
    p.add_argument("--target", default="wasm", choices=target_names())
    p.add_argument(
        "--controls", type=_id_list, help="comma-separated control ids (default: all with a policy)"
    )
    p.add_argument(
        "--iterations",
        type=_positive,
        default=1000,
        help="timed decisions per control and fixture (default 1000)",
    )
    p.add_argument(
        "--combined-iterations",
        type=_non_negative,
        default=100,
        help="timed decisions of all policies as one query, per fixture (default 100; 0 skips)",
    )
    p.add_argument(
        "--warmup",
        type=_non_negative,
        default=10,
        help="untimed decisions before each series (default 10)",
    )
    p.add_argument("--out", type=Path, help="run folder (default results/runs/<UTC timestamp>)")
    p.add_argument(
        "--config", type=Path, help="admin config merged over scenarios/config/default.yaml"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-bench", action="store_true", help="skip the target's extra measurements (opa bench)"
    )
    p.add_argument(
        "--node-check-runs",
        type=_non_negative,
        default=20,
        help="whole node-check processes timed on a compliant node tree (default 20; 0 skips)",
    )
    g = p.add_argument_group("cluster targets (kind, cluster)")
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
    _probe_flags(g, "cluster")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "node-check", help="gate a node: every node-configuration policy over its files"
    )
    p.add_argument(
        "--root", type=Path, default=Path("/"), help="root of the node's file system (default /)"
    )
    p.add_argument("--controls", type=_id_list)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--config", type=Path)
    p.add_argument(
        "--install-unit", action="store_true", help="print the systemd unit that gates kubelet"
    )
    p.add_argument(
        "--write",
        nargs="?",
        const=str(DEFAULT_UNIT_PATH),
        metavar="PATH",
        help=f"with --install-unit: write it (default {DEFAULT_UNIT_PATH})",
    )
    p.set_defaults(func=cmd_node_check)

    p = sub.add_parser("report", help="regenerate tables and figures of a run folder")
    p.add_argument("run_dir", type=Path)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "paper", help="regenerate the reproduction report's tables, figures and numbers"
    )
    p.add_argument(
        "--run",
        dest="runs",
        type=Path,
        action="append",
        help="a run folder (repeatable; default: every run under results/reference/)",
    )
    p.add_argument(
        "--paper-dir", type=Path, help="where paper.md and generated/ live (default paper/)"
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a generated block of paper.md differs from the runs",
    )
    p.set_defaults(func=cmd_paper)

    p = sub.add_parser("compare", help="per-control latency of several runs side by side")
    p.add_argument("run_dirs", nargs="+", type=Path)
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "build", help="compile the policies into the Wasm module the wasm target ships with"
    )
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the shipped module is stale"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="rebuild even when current (OPA's Wasm output differs byte-wise between builds)",
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser(
        "tools", help="pinned external tools (opa, etcd, kube-apiserver, kind, node components)"
    )
    tools_sub = p.add_subparsers(title="tools commands")
    t = tools_sub.add_parser("install", help="find, download or build a pinned tool into the cache")
    t.add_argument(
        "name",
        nargs="?",
        default="all",
        help="a tool name, all (every tool, default) or kind-images (the kind target's "
        "images, built with the container engine)",
    )
    t.set_defaults(func=cmd_tools_install)
    t = tools_sub.add_parser("list", help="pinned versions and where they are")
    t.add_argument("--format", choices=["table", "json"], default="table")
    t.set_defaults(func=cmd_tools_list)

    p = sub.add_parser(
        "policy-test", help="opa check --strict, opa test and coverage over policies/"
    )
    p.add_argument(
        "--sync",
        action="store_true",
        help="regenerate policy_test.rego files from the fixture suites",
    )
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_policy_test)

    p = sub.add_parser(
        "mutate",
        help="break the policies one change at a time and see which fixture tests notice (OPA)",
    )
    p.add_argument(
        "--controls", type=_id_list, help="comma-separated control ids (default: all with a policy)"
    )
    p.add_argument("--level", choices=["rule", "clause"], help="only this level (default both)")
    p.add_argument(
        "--workers", type=_positive, default=2, help="opa test processes at once (default 2)"
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 for unexplained clause-level survivors too (default: rule level only)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="folder for mutation.json (default results/mutation/<UTC timestamp>)",
    )
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_mutate)

    p = sub.add_parser(
        "peers",
        help="ask Pod Security Admission and published rule sets (scenarios/peers.yaml) about "
        "every fixture of the controls they map",
    )
    p.add_argument("--peers", type=_id_list, help="comma-separated peers (default: all)")
    p.add_argument(
        "--controls", type=_id_list, help="comma-separated control ids (default: all mapped)"
    )
    p.add_argument(
        "--out", type=Path, help="folder for peers.json (default results/peers/<UTC timestamp>)"
    )
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_peers)

    p = sub.add_parser(
        "rbac-defaults",
        help="compare policies/lib/rbac_defaults.rego with what kube-apiserver bootstraps",
    )
    p.add_argument("--write", action="store_true", help="rewrite the file when it differs")
    p.set_defaults(func=cmd_rbac_defaults)

    p = sub.add_parser(
        "controlplane",
        help="start the local etcd + kube-apiserver and wait (for audit, --target cluster, kubectl)",
    )
    p.add_argument("--kubeconfig-out", type=Path, help="also copy the kubeconfig here")
    p.set_defaults(func=cmd_controlplane)

    p = sub.add_parser("audit", help="apply every policy to existing cluster state")
    p.add_argument(
        "--from-dir",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="manifests of the cluster's objects",
    )
    p.add_argument("--kubeconfig", type=Path, help="collect from a live cluster (lists, read-only)")
    p.add_argument("--context")
    _probe_flags(p, "live")
    p.add_argument("--controls", type=_id_list)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--config", type=Path)
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("check", help="check manifests offline against the admission policies")
    p.add_argument(
        "paths",
        nargs="+",
        type=Path,
        help="files or folders (YAML, multi-document YAML, AdmissionReview JSON)",
    )
    p.add_argument("--controls", type=_id_list)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--config", type=Path)
    p.add_argument(
        "--user",
        help="the username that writes the manifests (default: pac-harness); an "
        "AdmissionReview keeps the one it records. CIS-5.4.2 reads it for Secrets",
    )
    p.set_defaults(func=cmd_check)
    commands.add_parsers(sub, verb)
    return parser


def _id_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


# ---------------------------------------------------------------- controls


def cmd_controls(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    controls = catalog.framework(args.framework) if args.framework else list(catalog)
    if args.format == "json":
        rows = [
            {
                "id": c.id,
                "framework": c.framework,
                "published_id": c.published_id,
                "title": c.title,
                "guideline": c.guideline,
                "assessment": c.assessment,
                "enforcement": c.enforcement,
                "scope": c.scope,
                "thesis": {"assessment": c.thesis.assessment, "verdict": c.thesis.verdict},
                "policy": _policy_dir(c, c.enforcement) if c.policy else None,
                "also_at": {point: _policy_dir(c, point) for point, _ in c.also_at},
                "fixtures": f"scenarios/fixtures/{c.fixtures}" if c.fixtures else None,
                "rationale": c.rationale,
            }
            for c in controls
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return EXIT_OK
    table = Table(title=f"{len(controls)} controls")
    for col in ("Id", "Title", "Asses.", "Enforced at", "Thesis", "Policy", "Fixtures"):
        table.add_column(col)
    for c in controls:
        table.add_row(
            c.id,
            c.title,
            c.assessment,
            "+".join(c.points) or c.enforcement,
            f"{c.thesis.assessment} {c.thesis.verdict}",
            c.policy or "",
            c.fixtures or "",
        )
    out.print(table)
    return EXIT_OK


# ---------------------------------------------------------------- run


def _policy_dir(control, point: str) -> str:
    from harness.model.catalog import PACKAGE_ROOTS

    return f"policies/{PACKAGE_ROOTS[point]}/{control.points[point]}"


def _probe_flags(parser, scope: str) -> None:
    """CIS-5.3.1's live probe: audit --kubeconfig and run --target cluster run it."""
    parser.add_argument(
        "--no-probe",
        dest="probe",
        action="store_false",
        help=f"{scope}: do not probe NetworkPolicy enforcement (CIS-5.3.1 then rests on the "
        "network plugin's name); the probe runs two pods in a throw-away namespace",
    )
    parser.add_argument(
        "--probe-image",
        help=f"{scope}: the probe pods' image, with nc (default: the Debian image built "
        "here, which kind clusters of this harness hold)",
    )


def _target_options(args: argparse.Namespace):
    from harness.targets import TargetOptions

    if args.target != "cluster" and not args.probe:
        raise HarnessError("--no-probe applies to --target cluster")
    probe_image = _probe_image(args) if args.target == "cluster" else args.probe_image
    return TargetOptions(
        kubeconfig=args.kubeconfig,
        context=args.context,
        dry_run=not args.real_objects,
        keep=args.keep,
        existing=args.existing_cluster,
        calico_manifest=args.calico_manifest,
        cni=args.cni,
        cluster_name=args.cluster_name or TargetOptions.cluster_name,
        probe_image=probe_image,
    )


def _print_planned(target, policy) -> int:
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


def cmd_run(args: argparse.Namespace) -> int:
    from harness import experiment
    from harness.targets import make_target

    prepared = experiment.prepare(
        args.target,
        args.controls,
        args.iterations,
        args.combined_iterations,
        args.warmup,
        args.config,
    )
    if prepared.without_policy:
        err.print(
            f"note: no policy for {', '.join(prepared.without_policy)}; "
            "reported without measurements",
            markup=False,
        )
    out_dir = experiment.run_folder(args.out)
    target = make_target(args.target, _target_options(args))
    if args.dry_run:
        return _print_planned(target, prepared.policy)
    result = experiment.execute(
        prepared,
        target,
        out_dir,
        bench=not args.no_bench,
        node_check_runs=args.node_check_runs,
        progress=lambda: progress_for(err, args.quiet),
        log=lambda line: err.print(line, markup=False),
    )
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


# ---------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> int:
    from harness.reporting.report import write_report

    report = write_report(args.run_dir)
    for path in report.written:
        out.print(str(path), markup=False)
    for line in report.summary():
        out.print(line, markup=False)
    return EXIT_OK


# ---------------------------------------------------------------- paper


def cmd_paper(args: argparse.Namespace) -> int:
    from harness.reporting.paper import (
        PAPER_FILE,
        Evidence,
        paper_dir,
        sections,
        stale_blocks,
        stale_files,
        stale_runs,
        write_paper,
    )

    evidence = Evidence.load(args.runs)
    directory = args.paper_dir or paper_dir()
    if args.check:
        paper = directory / PAPER_FILE
        if not paper.is_file():
            raise HarnessError(f"{paper}: not found")
        stale = stale_blocks(paper.read_text(), sections(evidence))
        for name in stale:
            err.print(f"{paper}: block {name} differs from the runs", markup=False, soft_wrap=True)
        outdated = stale_runs(evidence) + stale_files(evidence, directory)
        for line in outdated:
            err.print(line, markup=False, soft_wrap=True)
        stale += outdated
        if not stale:
            out.print(
                f"{paper}: every generated block and file, and the runs' derived files, match the runs",
                markup=False,
                soft_wrap=True,
            )
        return EXIT_FINDINGS if stale else EXIT_OK
    for path in write_paper(evidence, directory):
        out.print(str(path), markup=False)
    return EXIT_OK


# ---------------------------------------------------------------- compare


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.reporting.report import comparison_markdown, engine_comparison
    from harness.reporting.results import load_run

    table = engine_comparison([load_run(d) for d in args.run_dirs])
    if args.format == "json":
        print(table.to_json(orient="records", indent=1))
    elif args.format == "csv":
        print(table.to_csv(index=False, float_format="%.4f"), end="")
    else:
        print(comparison_markdown(table), end="")
    return EXIT_OK


# ---------------------------------------------------------------- tools


def cmd_tools_install(args: argparse.Namespace) -> int:
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


def cmd_tools_list(args: argparse.Namespace) -> int:
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


# ---------------------------------------------------------------- build


def shipped_policy_set():
    """Every policy and every query a run can ask (no data: it is handed over at start)."""
    from harness.model.policies import PolicySet, load_modules, queries_for

    queries = queries_for(load_catalog().with_policy)
    return PolicySet(modules=load_modules(), config={}, state={}, queries=queries)


def cmd_build(args: argparse.Namespace) -> int:
    from harness.targets import wasm

    policy = shipped_policy_set()
    problem = wasm.artifact_problem(policy)
    if args.check and problem:
        err.print(f"{problem}: run python -m harness build", markup=False)
        return EXIT_FINDINGS
    if args.check or (problem is None and not args.force):
        out.print(f"{wasm.COMPILED_WASM}: current (compiled from today's policies)", markup=False)
        return EXIT_OK
    manifest = wasm.build_artifact(policy)
    out.print(
        f"{wasm.COMPILED_WASM}: {len(manifest['entrypoints'])} entrypoints, "
        f"opa {manifest['opa']}, wasm sha256 {manifest['wasm_sha256'][:12]}",
        markup=False,
    )
    return EXIT_OK


# ---------------------------------------------------------------- policy-test


def cmd_policy_test(args: argparse.Namespace) -> int:
    from harness.checks.regotests import run_opa_test, sync
    from harness.model.fixtures import load_fixtures

    catalog = load_catalog()
    if args.sync:
        for path in sync(catalog, load_fixtures(catalog.with_policy), write=True):
            err.print(f"rewrote {path}", markup=False)
    result = run_opa_test(catalog)
    low = {f: pct for f, pct in result.coverage.items() if pct < 100}
    if args.format == "json":
        print(
            json.dumps(
                {
                    "passed": result.passed,
                    "failed": result.failed,
                    "coverage": result.coverage,
                    "total_coverage": result.total_coverage,
                    "uncovered_lines": result.uncovered,
                },
                indent=2,
            )
        )
    else:
        out.print(
            f"opa test: {result.passed} passed, {len(result.failed)} failed; "
            f"line coverage {result.total_coverage:.1f} % over {len(result.coverage)} policy files"
        )
        for name in result.failed:
            out.print(f"  FAIL {name}", markup=False)
        for name, pct in sorted(low.items()):
            out.print(f"  {name}: {pct:.1f} % (lines {result.uncovered.get(name)})", markup=False)
    return EXIT_FINDINGS if result.failed or low else EXIT_OK


def cmd_peers(args: argparse.Namespace) -> int:
    """Exit 1 when a selected peer could not run (its tool missing or failing); the
    others' records are written all the same. Disagreements are results, not failures."""
    from harness.model.config import load_config
    from harness.model.fixtures import load_fixtures
    from harness.model.peers import load_peers
    from harness.model.policies import PolicySet, load_modules, queries_for
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
    policy = PolicySet(
        load_modules(), load_config(), fixture_set.state(), queries_for(catalog.with_policy)
    )
    log = lambda line: err.print(line, markup=False)  # noqa: E731
    run = peers_run.run_peers(mappings, controls, fixture_set, policy, log)
    path = peers_run.write(run, args.out or new_run_dir(Path("results") / "peers"))
    if not run.meta["complete"]:
        err.print(f"interrupted; the peers that finished are in {path}", markup=False)
        return EXIT_INTERRUPTED
    doc = run.to_json()
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        out.print(markdown_frame(peers_report.per_peer(doc, len(catalog.controls))), markup=False)
        err.print(f"peers run: {path}", markup=False)
    failed = [name for name, s in run.peers.items() if s["status"] != "ran"]
    return EXIT_FINDINGS if failed else EXIT_OK


def cmd_mutate(args: argparse.Namespace) -> int:
    """Exit 1 when a mutant survives that scenarios/mutants.yaml does not explain (rule
    level; every level with --strict)."""
    from harness.checks import mutate
    from harness.model.config import load_config
    from harness.model.fixtures import load_fixtures
    from harness.reporting.results import new_run_dir

    catalog = load_catalog()
    controls = catalog.select_for(args.controls, "mutate")
    fixture_set = load_fixtures(catalog.with_policy)
    folder = args.out or new_run_dir(Path("results") / "mutation")
    with progress_for(err) as bar:
        tasks: list[int] = []  # made on the first mutant, once the count is known

        def advance(done: int, total: int) -> None:
            if not tasks:
                tasks.append(bar.add_task("mutants", total=total))
            bar.update(tasks[0], advance=1)

        report = mutate.run_mutation(
            controls, fixture_set, load_config(), args.level, args.workers, advance
        )
    path = mutate.write(report, folder)
    if not report.complete:
        ran = sum(o.status != "unexercised" for o in report.outcomes)
        err.print(f"interrupted after {ran} mutants; what they gave is in {path}", markup=False)
        return EXIT_INTERRUPTED
    unexplained = report.survivors(explained=False)
    failing = [o for o in unexplained if args.strict or o.mutant.level == mutate.RULE]
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
        return EXIT_FINDINGS if failing else EXIT_OK
    table = Table(title=f"mutants per control, counted: not explained in mutants.yaml ({path})")
    for col in ("Control", "rule: killed/counted", "clause: killed/counted"):
        table.add_column(col)
    for control_id, row in report.per_control().items():
        cells = (row[lv] for lv in mutate.LEVELS)
        table.add_row(
            control_id, *(f"{c['killed']}/{c['mutants'] - c['explained']}" for c in cells)
        )
    out.print(table)
    for o in unexplained:
        m = o.mutant
        out.print(
            f"  survived ({m.level}): {m.file}:{m.row} {m.operator}: {m.original!r} -> "
            f"{m.mutated!r} [{', '.join(o.controls)}]",
            markup=False,
            soft_wrap=True,
        )
    counts = report.to_json()["counts"]
    out.print(
        ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        + f"; {len(report.survivors(explained=True))} survivors explained in "
        f"scenarios/{mutate.KNOWN_SURVIVORS}, {len(unexplained)} not",
        markup=False,
    )
    return EXIT_FINDINGS if failing else EXIT_OK


def cmd_rbac_defaults(args: argparse.Namespace) -> int:
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


# ---------------------------------------------------------------- node-check


def cmd_node_check(args: argparse.Namespace) -> int:
    from harness.checks.nodecheck import check_node, systemd_unit
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


# ---------------------------------------------------------------- audit


def cmd_controlplane(args: argparse.Namespace) -> int:
    """A bare local control plane (no webhook) until Ctrl-C; its certificates and data
    live in a temporary folder that is removed on exit."""
    import shutil

    from harness.infra.controlplane import LocalControlPlane

    cluster = LocalControlPlane()
    try:
        cluster.start()
        kubeconfig = cluster.kubeconfig
        if args.kubeconfig_out:
            shutil.copy(kubeconfig, args.kubeconfig_out)
            kubeconfig = args.kubeconfig_out
        out.print(
            f"kube-apiserver at {cluster.url}\nkubeconfig {kubeconfig} "
            "(context pac-harness-local)\nCtrl-C stops it",
            markup=False,
            soft_wrap=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        cluster.stop()


def _probe_image(args: argparse.Namespace) -> str | None:
    if not args.probe:
        if args.probe_image:
            raise HarnessError("--probe-image and --no-probe contradict each other")
        return None
    if args.probe_image:
        return args.probe_image
    from harness.infra import kindimages

    return kindimages.debian_ref()


def _note(text: str) -> None:
    err.print(f"note: {text}", markup=False, soft_wrap=True)


def cmd_audit(args: argparse.Namespace) -> int:
    from harness.checks.audit import audit_dir, audit_live
    from harness.model.config import load_config

    catalog = load_catalog()
    controls = catalog.select_for(args.controls, "audit")
    config = load_config(args.config)
    if args.kubeconfig and args.from_dir:
        raise HarnessError("audit takes --kubeconfig or --from-dir, not both")
    if args.kubeconfig:
        findings = audit_live(
            args.kubeconfig, args.context, controls, config, _probe_image(args), _note
        )
    elif args.from_dir:
        findings = audit_dir(args.from_dir, controls, config)
    else:
        raise HarnessError("audit needs --kubeconfig FILE [--context C] or --from-dir PATH")
    if args.format == "json":
        print(json.dumps([f.to_json() for f in findings], indent=2))
    else:
        _print_findings(findings)
    return EXIT_FINDINGS if any(f.decision == "deny" for f in findings) else EXIT_OK


# ---------------------------------------------------------------- check


def cmd_check(args: argparse.Namespace) -> int:
    from harness.checks.check import collect, decide_objects
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
        _print_findings(findings)
    return EXIT_FINDINGS if denied else EXIT_OK


def _print_findings(findings) -> None:
    from harness.checks.check import NOT_APPLICABLE

    resources = {(f.file, f.resource) for f in findings}
    denied = [f for f in findings if f.decision == "deny"]
    table = Table(show_lines=False)
    for col in ("Resource", "Control", "Decision", "Messages"):
        table.add_column(col, overflow="fold")
    for f in denied:
        text = "\n".join(m.split("] ", 1)[-1] for m in f.messages)
        table.add_row(f.resource, f.control, "[red]deny[/red]", text)
    if denied:
        out.print(table)
    controls = {f.control for f in findings}
    skipped = sum(f.decision == NOT_APPLICABLE for f in findings)
    out.print(
        f"{len(resources)} resource(s) x {len(controls)} control(s): "
        f"{len(findings) - len(denied) - skipped} allowed, {len(denied)} denied"
        + (f", {skipped} not applicable" if skipped else "")
    )


if __name__ == "__main__":
    sys.exit(main())
