"""Command line: `python -m harness <command>`.

This module only dispatches: every verb lives in harness/commands, one module each, and
only the module of the verb named is imported. Heavy imports (pandas, matplotlib, rich,
the targets) happen inside the verbs that need them: the node-check gate runs before
kubelet and its cold start is part of what we measure.

Exit codes: 0 success; 1 the check found denials (check) or a control failed its
fixtures (run); 2 bad input or a target error (partial results are kept);
130 interrupted (partial results are kept).

May import: harness (errors, paths, progress), harness.commands.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from harness import __version__, commands
from harness.commands._shared import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, err
from harness.errors import HarnessError


def _terminate(signum: int, frame: FrameType | None) -> None:
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
        code: int = args.func(args)
        return code
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
    """The top-level parser with a subparser per verb; only the chosen verb's module is
    imported, to add its arguments (see harness/commands/__init__.py)."""
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"pac-harness {__version__}")
    sub = parser.add_subparsers(title="commands")
    commands.add_parsers(sub, verb)
    return parser


if __name__ == "__main__":
    sys.exit(main())
