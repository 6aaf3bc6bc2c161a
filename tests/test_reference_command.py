"""`harness reference`: the steps, their order and the paper's list of them."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from harness import paths
from harness.commands import reference
from harness.errors import HarnessError


def test_steps_are_selected_in_order():
    names = [s.name for s in reference.STEPS]
    assert [s.name for s in reference.selected(None, None)] == names
    assert [s.name for s in reference.selected("peers,wasm", None)] == ["wasm", "peers"]
    assert [s.name for s in reference.selected(None, "mutation")] == ["mutation", "peers"]
    with pytest.raises(HarnessError, match="unknown step 'nope'"):
        reference.selected("nope", None)


def test_the_paper_lists_the_steps_the_command_runs():
    listed = subprocess.run(
        [sys.executable, "-m", "harness", "reference", "--list"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    commands = [line.split(": ", 1)[1] for line in listed.splitlines()]
    paper = (paths.project_root() / "paper" / "paper.md").read_text()
    section = paper[paper.index("## 8. Reproduce") :]
    in_paper = re.findall(r"^(python -m harness (?:run|fuzz|\S+-oracle|mutate|peers) .*)$",
                          section, re.M)  # fmt: skip
    assert in_paper == commands
