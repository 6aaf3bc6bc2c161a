"""`harness new-control`: a throw-away admission control scaffolded in a copy of
policies/ and scenarios/ is replayed, tabled and mutation-tested with no other edit; the
command refuses what it must not write; the README's "Adding a control" lists exactly
what the command prints is left."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.checks.scaffold import left_to_do
from tests.conftest import ROOT, harness_cli, require_tool

ID, PACKAGE = "NSA-9.9", "nsa_9_9"
ARGS = ("--title", "Example control", "--guideline", "Pods labelled deny are refused.")
POLICY = f"controls/{PACKAGE}/policy.rego"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A copy of the policies and scenarios for PAC_HARNESS_HOME to point at."""
    root = tmp_path / "home"
    for part in ("policies", "scenarios"):
        shutil.copytree(ROOT / part, root / part)
    return root


def cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return harness_cli(*args, env={**os.environ, "PAC_HARNESS_HOME": str(home)}, timeout=timeout)


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def left_block(lines: list[str]) -> list[str]:
    """The lines after `left to do:`, unindented."""
    start = lines.index("left to do:") + 1
    return [line.removeprefix("  ") for line in lines[start:]]


def test_a_scaffolded_control_is_replayed_tabled_and_mutation_tested(home, tmp_path):
    opa = require_tool("opa")
    made = cli(home, "new-control", ID, *ARGS)
    assert made.returncode == 0, made.stderr
    assert f"  policies/{POLICY}" in made.stdout.splitlines()
    fmt = subprocess.run(
        [str(opa), "fmt", "--list", str(home / "policies" / "controls" / PACKAGE)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert fmt.stdout == "", "the scaffold's Rego is not opa-fmt clean"

    listed = cli(home, "controls", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["id"] == ID)
    assert row["policy"] == f"policies/controls/{PACKAGE}" and row["thesis"] is None

    tested = cli(home, "policy-test")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert ", 0 failed; line coverage 100.0 %" in tested.stdout

    run_dir = tmp_path / "run"
    ran = cli(home, "run", "--target", "wasm", "--controls", ID, "--iterations", "2",
              "--combined-iterations", "1", "--out", str(run_dir), "--quiet")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["complete"] and meta["wasm_module"].startswith("compiled at start by opa")
    coverage = json.loads((run_dir / "coverage.json").read_text())
    status = next(c for c in coverage["controls"] if c["id"] == ID)
    assert (status["status"], status["allow_fixtures"], status["deny_fixtures"]) == (
        "enforced", 2, 3,
    )  # fmt: skip
    assert (status["thesis_verdict"], status["symbol"]) == ("—", "✓")
    table = (run_dir / "tables" / "table-6.1-nsa.md").read_text()
    assert f"| {ID} | Example control | — | — | RD | ✓ |" in table

    mutation_dir = tmp_path / "mutation"
    mutated = cli(home, "mutate", "--controls", ID, "--level", "rule", "--out",
                  str(mutation_dir))  # fmt: skip
    report = json.loads((mutation_dir / "mutation.json").read_text())
    assert report["complete"], mutated.stderr
    own = [m for m in report["mutants"] if m["file"] == POLICY]
    assert {m["rule"] for m in own} == {"deny", "example"}
    assert all(m["status"] == "killed" and m["killed_for"] == [ID] for m in own), own
    score = report["controls"][ID]["rule"]
    assert score["killed_by_own_fixtures"] == score["killed"] > len(own)
    # Survivors the run does not explain can only be in the shared library (lib/k8s.rego's
    # name and cluster-scoped resource branches, which no pod fixture's test tells apart);
    # mutate exits 1 for them, as for every pod control mutated on its own (CIS-5.6.4), and
    # in the full run other controls' fixtures kill them.
    unexplained = [
        m for m in report["mutants"] if m["status"] == "survived" and not m.get("known_reason")
    ]
    assert all(m["file"].startswith("lib/") for m in unexplained), unexplained
    assert mutated.returncode == (1 if unexplained else 0), mutated.stderr
    for m in unexplained:
        assert f"survived (rule): {m['file']}:{m['row']} " in mutated.stdout


def test_the_cel_stub_decides_as_the_rego_example_on_kyverno(home, monkeypatch):
    """policies/vap/<pkg>.yaml, through the Kyverno peer (the vap target's CEL offline):
    the deny fixtures fire it, the allow fixtures do not."""
    from harness.model.catalog import load_catalog
    from harness.model.fixtures import load_fixtures
    from harness.peers.run import ADAPTERS

    binary = require_tool("kyverno")
    assert cli(home, "new-control", ID, *ARGS).returncode == 0
    monkeypatch.setenv("PAC_HARNESS_HOME", str(home))
    fixtures = load_fixtures([load_catalog().get(ID)]).by_control[ID]
    fired = ADAPTERS["kyverno"](binary, fixtures)
    policy = f"pac-harness-{PACKAGE.replace('_', '-')}"
    verdicts = {f.id: policy in fired.get(f.id, ()) for f in fixtures}
    assert verdicts == {f.id: f.expect == "deny" for f in fixtures}


def test_new_control_refuses_in_one_line_and_writes_nothing(home):
    cases = [
        (("NSA-1.1", *ARGS), "NSA-1.1 is already in"),
        (("NSA-9.x", *ARGS), "'NSA-9.x' is not a control id: NSA-<n>[.<n>...] or CIS-<n>"),
        (("XYZ-1", *ARGS), "'XYZ-1' is not a control id"),
    ]
    (home / "scenarios" / "fixtures" / "CIS-9.1").mkdir()
    before = tree(home)
    cases.append((("CIS-9.1", *ARGS), "fixtures/CIS-9.1 already exists"))
    for args, message in cases:
        result = cli(home, "new-control", *args)
        assert result.returncode == 2, (args, result.stdout)
        assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
    assert tree(home) == before
    result = cli(home, "new-control", ID, "--title", "t")
    assert result.returncode == 2 and "--guideline" in result.stderr


def test_the_readme_lists_what_new_control_prints_is_left(home):
    """The scaffold's output names each file it wrote and what is left; the README shows
    the same list for <ID> and <pkg>; the files and hand-kept lists it names exist."""
    result = cli(home, "new-control", ID.lower(), *ARGS)
    assert result.returncode == 0, result.stderr
    assert left_block(result.stdout.splitlines()) == left_to_do(ID, PACKAGE)
    readme = (ROOT / "README.md").read_text()
    paragraph = readme[readme.index("Adding a control") :]
    block = paragraph[paragraph.index("```\nleft to do:") + 4 :].split("```", 1)[0]
    assert left_block(block.splitlines()) == left_to_do("<ID>", "<pkg>")

    written = result.stdout.splitlines()
    for rel in written[written.index("written:") + 1 : written.index("left to do:")]:
        assert (home / rel.strip()).is_file(), rel
    entries = yaml.safe_load((home / "scenarios" / "catalog.yaml").read_text())
    ids = [e["id"] for e in entries]
    assert ids[ids.index("NSA-4.3") + 1] == ID  # in table order, after the last NSA entry
    entry = entries[ids.index(ID)]
    assert (entry["thesis"], entry["policy"], entry["fixtures"]) == ("none", PACKAGE, ID)
    # The hand-kept lists the output names are where it says.
    # Kyverno's mapping is derived from policies/vap (no line to add for it).
    peers = yaml.safe_load((ROOT / "scenarios" / "peers.yaml").read_text())
    assert peers["peers"]["kyverno"]["derived_from"] == "vap"
    # The guards' survivors are explained for every control, the new one included.
    every = {
        e["original"]
        for e in yaml.safe_load((ROOT / "scenarios" / "mutants.yaml").read_text())["survivors"]
        if e["operator"] == "condition dropped" and e.get("files") == ["controls/*/policy.rego"]
    }
    assert {"k8s.pod_write", "rbac.rbac_write", 'not k8s.exempt_controls["{control}"]'} <= every
    assert "NSA_IDS = [" in (ROOT / "tests" / "test_catalog.py").read_text()
    assert "assert len(rows) == 25" in (ROOT / "tests" / "test_cli.py").read_text()
    assert (ROOT / "examples" / "compliant").is_dir()
