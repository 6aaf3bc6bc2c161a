"""The main job as a library call: replay every fixture of the selected controls against
one target, N times, write the run folder and its report.

The CLI, the tests and a notebook call run() the same way; `python -m harness run` only
turns flags into its arguments and its result into output and an exit code.

    from harness import experiment
    result = experiment.run(controls=["NSA-1.1", "CIS-5.2.5"], iterations=20)
    result.report.coverage, result.report.latency, result.directory

May import: harness (errors, paths, progress), harness.model, harness.infra,
harness.targets, harness.reporting, harness.checks, harness.peers, harness.replay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.errors import HarnessError, TargetError
from harness.model import inputs
from harness.model.catalog import Control, load_catalog
from harness.model.config import load_config
from harness.model.fixtures import FixtureSet, load_fixtures
from harness.model.policies import PolicySet, policy_set, queries_for
from harness.progress import LineProgress
from harness.replay import Plan, replay
from harness.reporting.results import Recorder, RunWriter, base_metadata, new_run_dir, now
from harness.targets import TargetOptions, make_target

# Makes a context manager with add_task(description, total) and update(task, advance,
# description): rich's Progress on a terminal, harness.progress.LineProgress elsewhere.
ProgressFactory = Callable[[], Any]


@dataclass
class Experiment:
    """What a run will do, before anything is started (run() builds one from arguments)."""

    target: str
    controls: list[Control]
    fixtures: FixtureSet
    policy: PolicySet
    plan: Plan
    config: dict[str, Any]
    without_policy: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    directory: Path
    meta: dict[str, Any]
    report: Any  # harness.reporting.report.Report (imported lazily: pandas and matplotlib)
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        return bool(self.meta.get("complete"))

    @property
    def error(self) -> str | None:
        return self.meta.get("error")


def prepare(
    target: str = "wasm",
    controls: list[str] | None = None,
    iterations: int = 1000,
    combined_iterations: int = 100,
    warmup: int = 10,
    config: Path | None = None,
) -> Experiment:
    """Select controls, load fixtures, config and policies: every input error surfaces
    here, before a target starts."""
    catalog = load_catalog()
    selected = catalog.select(controls)
    with_policy = [c for c in selected if c.has_policy]
    without = [c.id for c in selected if not c.has_policy]
    if not with_policy:
        raise HarnessError(
            f"no selected control has a policy to run ({', '.join(without)} have none)"
        )
    fixtures = load_fixtures(with_policy)
    loaded_config = load_config(config)
    policy = policy_set(queries_for(with_policy), fixtures.state(), loaded_config)
    plan = Plan(with_policy, fixtures, iterations, warmup, combined_iterations)
    return Experiment(
        target, with_policy, fixtures, policy, plan, loaded_config, without if controls else []
    )


def run(
    target: str = "wasm",
    controls: list[str] | None = None,
    iterations: int = 1000,
    combined_iterations: int = 100,
    warmup: int = 10,
    out: Path | None = None,
    config: Path | None = None,
    bench: bool = True,
    node_check_runs: int = 20,
    options: TargetOptions | None = None,
    progress: ProgressFactory | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> RunResult:
    """Replay, write the run folder and its report. Ctrl-C or a target that dies while
    measuring ends the run early with what it measured kept (complete is false); a
    target that fails before measuring raises TargetError, and bad input HarnessError."""
    experiment = prepare(target, controls, iterations, combined_iterations, warmup, config)
    if experiment.without_policy:
        log(
            f"note: no policy for {', '.join(experiment.without_policy)}; "
            "reported without measurements"
        )
    return execute(
        experiment,
        make_target(target, options or TargetOptions()),
        run_folder(out),
        bench=bench,
        node_check_runs=node_check_runs,
        progress=progress or (lambda: LineProgress(Console(stderr=True, highlight=False))),
        log=log,
    )


def run_folder(out: Path | None) -> Path:
    """Where a run goes: out, or results/runs/<UTC timestamp>; never over an earlier run."""
    out_dir = out or new_run_dir()
    if out_dir.exists() and any(out_dir.iterdir()):
        raise HarnessError(f"{out_dir}: run folder exists and is not empty")
    return out_dir


def execute(
    experiment: Experiment,
    target: Any,
    out_dir: Path,
    bench: bool,
    node_check_runs: int,
    progress: ProgressFactory,
    log: Callable[[str], None],
) -> RunResult:
    from harness.reporting.report import write_report

    plan = experiment.plan
    meta = base_metadata(
        experiment.target,
        {},
        iterations=plan.iterations,
        combined_iterations=plan.combined_iterations,
        warmup=plan.warmup,
        controls=[c.id for c in experiment.controls],
        fixtures=len(experiment.fixtures.unique),
        config=experiment.config,
        inputs=inputs.digest(experiment.config),
    )
    recorder = Recorder()
    writer = RunWriter(out_dir, meta)
    extras: dict[str, Any] = {}
    started = time.monotonic()
    interrupted = measuring = False
    try:
        with target:
            target.start(experiment.policy)
            meta.update(target.describe())
            measuring = True
            writer.start()
            series = target.series() if bench else []
            steps = plan.total_steps(series)
            log(
                f"replaying {steps:,} timed decisions against {target.name}; results go to {out_dir}"
            )
            with progress() as bar:
                task = bar.add_task("replay", total=steps)

                def advanced(n: int, what: str) -> None:
                    bar.update(task, advance=n, description=what)
                    writer.checkpoint(recorder)

                replay(target, plan, recorder, advanced, series, log)
        if node_check_runs and any("node" in c.points for c in experiment.controls):
            extras["node_check_process"] = time_node_check(
                experiment.fixtures, node_check_runs, log
            )
        meta["complete"] = True
    except KeyboardInterrupt:
        meta.update(complete=False, error="interrupted")
        interrupted = True
    except TargetError as exc:
        if not measuring:
            raise  # nothing measured yet: the one-line error is all there is to say
        meta.update(complete=False, error=str(exc))
    finally:
        if measuring:
            meta.update(
                finished=now(),
                wall_seconds=round(time.monotonic() - started, 3),
                records=len(recorder),
                skipped=recorder.skipped
                + [{"fixture": f, "reason": r} for f, r in experiment.fixtures.skipped],
            )
            writer.finish(recorder, extras)
    if not measuring:
        raise KeyboardInterrupt  # interrupted while the target was starting: nothing to keep
    return RunResult(out_dir, meta, write_report(out_dir, load_catalog()), interrupted)


def time_node_check(
    fixtures: FixtureSet, runs: int, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Whole node-check processes on a compliant node tree (thesis figure 6.28's cold
    side): what a boot waits for."""
    from harness.checks.nodecheck import time_process

    compliant = next((f for f in fixtures.unique if f.is_node_tree and f.expect == "allow"), None)
    if compliant is None:
        return []
    log(f"timing {runs} whole node-check processes on {compliant.id}")
    rows = time_process(compliant.subject.body, runs)
    return [dict(row, fixture=compliant.id) for row in rows]
