"""`harness reference`: remake every reference run, in order, with one command.

Each step is the harness's own command line with the arguments the paper's "Reproduce"
section gives, run as a child process into a fresh folder beside the committed one; only
a step that succeeded replaces its folder, so a failed or interrupted step keeps the
previous run and later steps can be resumed with --from. Each step's wall time goes to
results/reference/timings.json and to the closing table, the figures the README's
timings quote. Reference runs are meant to come from a clean clone, on a machine left
alone (latencies move with load), as root (node fixtures set file owners).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

SUMMARY = "remake every reference run in order, from this checkout, timing each step"
EXIT_OK, EXIT_FAILED = 0, 1


@dataclass(frozen=True)
class Step:
    name: str  # its folder under results/reference/
    argv: tuple[str, ...]  # harness arguments, --out added
    before: tuple[str, ...] = ()  # harness arguments run first (not timed as the step)
    report: bool = False  # a replay run: `harness report` renders its tables at the end


_RUN = ("run", "--iterations", "100", "--target")
# regopy needs up to a second for a ClusterRole aggregating every role: N=1, no warm-up
_EMBEDDED: tuple[str, ...] = ("run", "--target", "embedded", "--iterations", "1")
_EMBEDDED += ("--combined-iterations", "1", "--warmup", "0")
STEPS: tuple[Step, ...] = (
    Step("wasm", (*_RUN, "wasm"), report=True),
    Step("opa", (*_RUN, "opa"), report=True),
    Step("local", (*_RUN, "local"), report=True),
    Step("vap", (*_RUN, "vap"), report=True),
    Step("kind", (*_RUN, "kind"), before=("tools", "install", "kind-images"), report=True),
    Step("embedded", _EMBEDDED, report=True),
    Step("fuzz", ("fuzz", "--count", "6000", "--seed", "1")),
    Step("defaulting", ("defaulting-oracle",)),
    Step("rbac", ("rbac-oracle",)),
    Step("netpol", ("netpol-oracle", "--live", "60"), before=("tools", "install", "kind-images")),
    Step("istio", ("istio-oracle",)),
    Step("mutation", ("mutate",)),
    Step("peers", ("peers",)),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(s.name for s in STEPS)
    parser.add_argument(
        "--only", help=f"comma-separated steps to remake (default all, in order: {names})"
    )
    parser.add_argument("--from", dest="start", help="resume at this step (and go on in order)")
    parser.add_argument(
        "--dir", type=Path, default=Path("results/reference"), help="default results/reference"
    )
    parser.add_argument(
        "--no-paper", action="store_true", help="do not regenerate the paper at the end"
    )
    parser.add_argument("--list", action="store_true", help="print the steps and stop")


def selected(only: str | None, start: str | None) -> list[Step]:
    """The steps to run, in order; an unknown name is bad input."""
    names = [s.name for s in STEPS]
    for name in [*(only or "").split(","), start or ""]:
        if name.strip() and name.strip() not in names:
            raise HarnessError(
                f"reference: unknown step {name.strip()!r} (steps: {', '.join(names)})"
            )
    steps = list(STEPS)
    if start:
        steps = steps[names.index(start) :]
    if only:
        wanted = {n.strip() for n in only.split(",") if n.strip()}
        steps = [s for s in steps if s.name in wanted]
    return steps


def harness(*argv: str) -> list[str]:
    return [sys.executable, "-m", "harness", *argv]


def run(args: argparse.Namespace) -> int:
    steps = selected(args.only, args.start)
    if args.list:
        for step in steps:
            print(
                f"{step.name}: python -m harness {' '.join(step.argv)} --out {args.dir / step.name}"
            )
        return EXIT_OK
    args.dir.mkdir(parents=True, exist_ok=True)
    timings_file = args.dir / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
    failed = None
    for step in steps:
        seconds = remake(step, args.dir)
        if seconds is None:
            failed = step.name
            break
        timings[step.name] = {
            "seconds": round(seconds),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        timings_file.write_text(json.dumps(timings, indent=2, sort_keys=True) + "\n")
    # Reports last: a run's tables carry the mutation run's scores, remade after it.
    for step in STEPS:
        if step.report and (args.dir / step.name / "run.json").is_file():
            subprocess.run(harness("report", str(args.dir / step.name)), check=False)
    if failed is None and not args.no_paper:
        subprocess.run(harness("paper"), check=False)
    print("step        seconds")
    for step in steps:
        row = timings.get(step.name, {})
        print(f"{step.name:<11} {row.get('seconds', '-')}")
    if failed:
        print(
            f"reference: step {failed} failed; its previous run is kept "
            f"(resume with --from {failed})",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def remake(step: Step, directory: Path) -> float | None:
    """One step into a fresh folder that replaces the committed one on success; its wall
    time, or None when it failed."""
    final = directory / step.name
    fresh = directory / f".{step.name}.new"
    shutil.rmtree(fresh, ignore_errors=True)
    if step.before and subprocess.run(harness(*step.before), check=False).returncode != 0:
        return None
    print(f"reference: {step.name}: python -m harness {' '.join(step.argv)}", file=sys.stderr)
    start = time.monotonic()
    result = subprocess.run(harness(*step.argv, "--out", str(fresh)), check=False)
    seconds = time.monotonic() - start
    # a run that finds what it looks for (a failing control, a disagreement) exits 1 and
    # is still a run to keep; 2 and above are errors or an interruption
    if result.returncode not in (0, 1) or not fresh.is_dir():
        shutil.rmtree(fresh, ignore_errors=True)
        return None
    shutil.rmtree(final, ignore_errors=True)
    fresh.rename(final)
    return seconds
