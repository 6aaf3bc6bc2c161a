"""The evidence can fail: a broken policy (in a temporary copy of the library) shows up
as a failing control, a non-zero exit, a failing row in tables 6.1/6.2 and in the paper."""

from __future__ import annotations

import json
import os
import shutil

from tests.conftest import ROOT, harness_cli

BROKEN = ("c.spec.securityContext.privileged == true", 'c.spec.securityContext.privileged == "x"')


def test_a_broken_policy_is_reported_failing_everywhere(tmp_path):
    home = tmp_path / "home"
    for part in ("policies", "scenarios"):
        shutil.copytree(ROOT / part, home / part)
    checks = home / "policies" / "lib" / "checks.rego"
    text = checks.read_text()
    assert BROKEN[0] in text
    checks.write_text(text.replace(BROKEN[0], BROKEN[1]))
    env = {**os.environ, "PAC_HARNESS_HOME": str(home)}

    out = tmp_path / "run"
    result = harness_cli(
        "run", "--controls", "CIS-5.2.2", "--iterations", "2", "--combined-iterations", "0",
        "--out", str(out), env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert (
        "failing controls (a fixture decided against its expectation): CIS-5.2.2" in result.stdout
    )
    coverage = json.loads((out / "coverage.json").read_text())
    assert {c["id"]: c["status"] for c in coverage["controls"]}["CIS-5.2.2"] == "failing"
    row = next(
        line
        for line in (out / "tables" / "table-6.2-cis.md").read_text().splitlines()
        if line.startswith("| CIS-5.2.2 ")
    )
    assert "failing" in row

    # The paper from this run beside the other committed reference runs.
    paper = tmp_path / "paper"
    paper.mkdir()
    shutil.copy(ROOT / "paper" / "paper.md", paper / "paper.md")
    reference = ROOT / "results" / "reference"
    shutil.copytree(reference / "fuzz", home / "results" / "reference" / "fuzz")
    others = [a for t in ("opa", "local", "kind") for a in ("--run", str(reference / t))]
    result = harness_cli(
        "paper", "--run", str(out), *others, "--paper-dir", str(paper), env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr
    table = (paper / "generated" / "table-6.2-cis.md").read_text()
    assert any(line.startswith("| CIS-5.2.2 ") and "failing" in line for line in table.splitlines())
    assert "failing" in (paper / "paper.md").read_text()
