"""`harness new-control ID`: scaffold an admission control (harness.checks.scaffold) and
print what it wrote and what is left: the files to edit, the commands that regenerate
what derives from them, and the hand-kept lists the control must join."""

from __future__ import annotations

import argparse

from harness.commands._shared import EXIT_OK, out

SUMMARY = "scaffold an admission control: catalog entry, Rego package, fixture suite and CEL stub"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}. Only admission controls of pods and pod templates: a node or audit "
        "control, or one decided at two points (catalog also_at), is written by hand "
        "(README: adding a control). The scaffold's example check denies a pod labelled "
        "pac-harness.io/example: deny, so the control is enforced at once; it prints what is "
        "left to write."
    )
    parser.add_argument(
        "id", metavar="ID", help="the new control's id: NSA-<n>[.<n>...] or CIS-<n>[.<n>...]"
    )
    parser.add_argument(
        "--title", required=True, help="the control's title, as the guideline has it"
    )
    parser.add_argument(
        "--guideline", required=True, help="what the guideline asks, in one sentence"
    )


def run(args: argparse.Namespace) -> int:
    from harness.checks.scaffold import EXAMPLE_LABEL, left_to_do, scaffold

    made = scaffold(args.id, args.title, args.guideline)
    out.print(
        f"new admission control {made.control_id} (package {made.package}); its example check "
        f"denies a pod or pod template labelled {EXAMPLE_LABEL}: deny",
        markup=False,
    )
    out.print("written:", markup=False)
    for path in made.created:
        out.print(f"  {path}", markup=False)
    out.print("left to do:", markup=False)
    for line in left_to_do(made.control_id, made.package):
        out.print(f"  {line}", markup=False)
    return EXIT_OK
