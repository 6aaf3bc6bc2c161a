"""What every command shares: exit codes, the two consoles, progress, the argument types
and options several verbs take (control ids, counts, the NetworkPolicy probe), the
findings table of check and audit, and the shape of an oracle command (seed, count, run
folder, summary, exit 1 on a disagreement)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table as RichTable

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a closed pipe


def _console(stderr: bool = False) -> Console:
    """Text is never hard-wrapped; off a terminal (a pipe, a log) tables get the width
    they need instead of rich's default 80 columns, so nothing is cut or folded."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, width=100_000)
    return console


class _LazyConsole:
    """A console made on first use: rich costs about 40 ms to import, which a node
    gate (`node-check --format json`, waited for at boot) never needs."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = _console(self._stderr)
        return getattr(self._console, name)


def Table(*args: Any, **kwargs: Any) -> RichTable:
    from rich.table import Table as RichTable

    return RichTable(*args, **kwargs)


def progress_for(*args: Any, **kwargs: Any) -> Any:
    from harness.progress import progress_for as make

    return make(*args, **kwargs)


out: Any = _LazyConsole(stderr=False)
err: Any = _LazyConsole(stderr=True)


def id_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def probe_flags(parser: Any, scope: str) -> None:
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


def probe_image(args: argparse.Namespace) -> str | None:
    if not args.probe:
        if args.probe_image:
            raise HarnessError("--probe-image and --no-probe contradict each other")
        return None
    if args.probe_image:
        image: str = args.probe_image
        return image
    from harness.infra import kindimages

    return kindimages.debian_ref()


def print_findings(findings: Any) -> None:
    """check's and audit's table: the denials, then one line of counts."""
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


def oracle_arguments(parser: argparse.ArgumentParser, folder: str, count: int, what: str) -> None:
    """--seed, --count (what it counts), --out and --format, as every oracle takes them."""
    parser.add_argument(
        "--seed", type=int, default=1, help="makes the generated input repeatable (default 1)"
    )
    parser.add_argument(
        "--count", type=int, default=count, help=f"{what} to generate (default {count})"
    )
    parser.add_argument(
        "--out", type=Path, help=f"run folder (default results/{folder}/<UTC timestamp>)"
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")


def run_oracle(
    args: argparse.Namespace,
    folder: str,
    label: str,
    total: int,
    oracle: Callable[[Path, Callable[[], None]], dict[str, Any]],
    headline: Callable[[dict[str, Any]], str],
    line: Callable[[dict[str, Any]], str],
    failed: Callable[[dict[str, Any]], bool] = lambda s: bool(s["disagreements"]),
) -> int:
    """Run an oracle into its folder with a progress bar, then print its summary as JSON
    or as its headline and one line per disagreement; exit 1 when failed(summary)."""
    from harness.reporting.results import new_run_dir

    if total < 1:
        raise HarnessError("--count must be at least 1")
    out_dir = args.out or new_run_dir(Path("results") / folder)
    with progress_for(err) as bar:
        task = bar.add_task(label, total=total)
        summary = oracle(out_dir, lambda: bar.update(task, advance=1))
    if args.format == "json":
        print(json.dumps(summary, indent=2))
    else:
        out.print(f"{headline(summary)}; {out_dir}", markup=False, soft_wrap=True)
        for row in summary["disagreements"]:
            out.print(f"  {line(row)}", markup=False, soft_wrap=True)
    return EXIT_FINDINGS if failed(summary) else EXIT_OK
