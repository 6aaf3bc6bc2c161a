"""Mutation testing (harness mutate): mutants are generated from OPA's parse of the real
modules, a broken rule is noticed by the fixture tests, a survivor is reported with its
line, and the known-survivors file explains only what it lists."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from harness.checks import mutate
from harness.errors import HarnessError
from harness.model.config import load_config
from tests.conftest import ROOT, harness_cli, require_tool

MODULE = """package demo

import data.lib.k8s

names := {"a", "b"}

deny contains msg if {
\tk8s.kind == "Pod"
\tnot input.ok
\tmsg := "no"
}

allowed(x) if x in names
"""


def test_mutants_cover_every_operator_at_its_span(tmp_path):
    opa = require_tool("opa")
    path = tmp_path / "demo.rego"
    path.write_text(MODULE)
    found = mutate.mutants_of(mutate.parse(opa, path), path, "demo.rego")
    source = path.read_bytes()
    by_operator = {}
    for m in found:
        assert source[m.start : m.end].decode() == m.original
        by_operator.setdefault(m.operator, []).append(m)
    assert {
        "rule body made false", "condition dropped", "condition negated",
        "comparison turned around", "constant changed", "element left out",
    } <= set(by_operator)  # fmt: skip
    assert {m.mutated for m in by_operator["rule body made false"]} == {
        'false; k8s.kind == "Pod"',
        "{ false; x in names }",
    }
    assert "input.ok" in {m.mutated for m in by_operator["condition negated"]}
    assert {m.mutated for m in by_operator["comparison turned around"]} == {"!="}
    assert '"Pod-mutant"' in {m.mutated for m in by_operator["constant changed"]}
    assert {m.mutated for m in by_operator["element left out"]} == {'{"a"}', '{"b"}'}
    # Every mutant still parses (a dropped binding may not compile, which is stillborn).
    for m in found:
        path.write_bytes(m.apply(source))
        assert (
            mutate.subprocess.run([str(opa), "parse", str(path)], capture_output=True).returncode
            == 0
        )


def test_a_mutant_belongs_to_the_controls_whose_deny_reaches_its_rule():
    from harness import paths

    opa = require_tool("opa")
    _, graph = mutate.all_mutants(opa, paths.policies_dir())
    reach = mutate.reachable(graph, ("controls.cis_5_2_2", "deny"))
    assert {
        ("lib.checks", "privileged"),
        ("lib.k8s", "containers"),
        ("lib.k8s", "pod_write"),
    } <= reach
    assert ("lib.checks", "no_strict_mtls") not in reach  # NSA-2.6's check
    assert ("lib.pss", "violations") in mutate.reachable(graph, ("controls.nsa_1_4", "deny"))


def test_one_control_is_mutated_and_a_broken_rule_is_killed(catalog, fixture_set):
    """CIS-5.2.2's own rule made false is killed by its deny fixtures; every survivor
    names its file, line and mutation."""
    require_tool("opa")
    report = mutate.run_mutation([catalog.get("CIS-5.2.2")], fixture_set, load_config())
    own = [o for o in report.outcomes if o.mutant.file == "controls/cis_5_2_2/policy.rego"]
    body_false = next(o for o in own if o.mutant.operator == "rule body made false")
    assert body_false.status == "killed" and body_false.killed_for == ["CIS-5.2.2"]
    privileged = [
        o for o in report.outcomes
        if o.mutant.file == "lib/checks.rego" and "privileged == true" in o.mutant.original
    ]  # fmt: skip
    assert privileged and all(o.status == "killed" for o in privileged)
    scores = report.per_control()["CIS-5.2.2"]
    assert scores["rule"]["mutants"] >= scores["rule"]["killed"] > 0
    for o in report.survivors():
        assert o.mutant.row > 0 and o.mutant.original and o.mutant.mutated
        assert o.to_json()["rule"] == o.mutant.rule[1]  # what an entry's `rule` names


def test_a_survivor_is_explained_only_by_its_own_entry(tmp_path):
    path = tmp_path / "mutants.yaml"
    path.write_text(
        "survivors:\n- {file: lib/a.rego, operator: condition dropped, original: x, "
        "mutated: 'true', reason: why}\n"
    )
    known = mutate.known_survivors(path)
    assert known == {("lib/a.rego", "condition dropped", "x", "true"): [(None, "why")]}
    path.write_text(
        "survivors:\n- {files: [c/a.rego, c/b.rego], operator: condition dropped, original: x, "
        "mutated: 'true', reason: both}\n"
    )
    known = mutate.known_survivors(path)
    assert set(known) == {
        ("c/a.rego", "condition dropped", "x", "true"),
        ("c/b.rego", "condition dropped", "x", "true"),
    }
    path.write_text(
        "survivors:\n- {files: [controls/nsa_4_1_3/policy.rego, controls/cis_5_2_2/policy.rego], "
        "operator: condition dropped, original: 'not k8s.exempt_controls[\"{control}\"]', "
        "mutated: 'true', reason: each control's own id}\n"
    )
    assert set(mutate.known_survivors(path)) == {
        (
            "controls/nsa_4_1_3/policy.rego",
            "condition dropped",
            'not k8s.exempt_controls["NSA-4.1.3"]',
            "true",
        ),
        (
            "controls/cis_5_2_2/policy.rego",
            "condition dropped",
            'not k8s.exempt_controls["CIS-5.2.2"]',
            "true",
        ),
    }
    path.write_text(
        "survivors:\n- {file: lib/a.rego, operator: element left out, original: '{1, 2}', "
        "mutated: ['{1}', '{2}'], reason: each}\n"
    )
    known = mutate.known_survivors(path)
    assert set(known) == {
        ("lib/a.rego", "element left out", "{1, 2}", "{1}"),
        ("lib/a.rego", "element left out", "{1, 2}", "{2}"),
    }
    path.write_text(
        "survivors:\n- {file: lib/a.rego, rule: scan, operator: comparison turned around, "
        "original: '==', mutated: '!=', reason: scanner}\n"
    )
    known = mutate.known_survivors(path)
    at = dict(file="lib/a.rego", row=1, level="clause", operator="comparison turned around")
    flip = dict(original="==", mutated="!=", start=0, end=2)
    assert (
        mutate.reason_for(known, mutate.Mutant(**at, **flip, rule=("lib.a", "scan"))) == "scanner"
    )
    assert mutate.reason_for(known, mutate.Mutant(**at, **flip, rule=("lib.a", "other"))) == ""
    path.write_text("survivors:\n- {file: lib/a.rego}\n")
    with pytest.raises(HarnessError, match=r"needs file \(or files\), operator, original, mutated"):
        mutate.known_survivors(path)


def test_the_mutate_command_fails_on_an_unexplained_rule_survivor(tmp_path):
    """A rule no fixture exercises the way it matters (here CIS-5.2.2's deny made to
    need a label no fixture has) survives; `mutate` names it and exits 1."""
    require_tool("opa")
    home = tmp_path / "home"
    for part in ("policies", "scenarios"):
        shutil.copytree(ROOT / part, home / part)
    policy = home / "policies" / "controls" / "cis_5_2_2" / "policy.rego"
    policy.write_text(
        policy.read_text()
        + '\ndeny contains "[CIS-5.2.2] extra" if input.request.object.metadata.labels.extra\n'
    )
    out = tmp_path / "mutation"
    result = harness_cli(
        "mutate", "--controls", "CIS-5.2.2", "--level", "rule", "--out", str(out),
        "--format", "json", env={**os.environ, "PAC_HARNESS_HOME": str(home)}, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    report = json.loads((out / "mutation.json").read_text())
    survivors = [m for m in report["mutants"] if m["status"] == "survived"]
    assert any(
        m["file"] == "controls/cis_5_2_2/policy.rego" and "labels.extra" in m["original"]
        for m in survivors
    )
    assert report["controls"]["CIS-5.2.2"]["rule"]["score"] < 1


def test_scores_reach_the_tables_only_from_a_matching_mutation_run(monkeypatch, tmp_path, catalog):
    import pandas as pd

    from harness.reporting import coverage as cov
    from harness.reporting.report import markdown_table

    path = tmp_path / "mutation.json"
    score = {"rule": {"score": 1.0}, "clause": {"score": 0.5}}
    path.write_text(json.dumps({"inputs": {"policies": "a"}, "controls": {"NSA-1.1": score}}))
    monkeypatch.setattr(cov, "reference_mutation_file", lambda: path)
    assert cov.mutation_scores({"policies": "b"}) is None  # made with other policies
    scores = cov.mutation_scores({"policies": "a"})
    records = pd.DataFrame(
        {"mode": [], "control": [], "fixture": [], "expected": [], "correct": []}
    )
    coverage = cov.compute_coverage(catalog, records, None, scores)
    row = next(c for c in coverage.controls if c.id == "NSA-1.1")
    assert (row.mutation_rule, row.mutation_clause) == (1.0, 0.5)
    latency = pd.DataFrame({"control": [], "p50_ms": [], "p99_ms": []})
    line = next(
        x for x in markdown_table(coverage, latency, "nsa").splitlines() if "| NSA-1.1 " in x
    )
    assert "100% / 50%" in line


def test_an_interrupted_mutation_run_keeps_what_it_measured(catalog, fixture_set, tmp_path):
    """Ctrl-C (here raised by the progress callback, as a signal would be) stops the
    workers; the mutants already run are kept and the report says it is partial."""
    require_tool("opa")

    def interrupt_at_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    report = mutate.run_mutation(
        [catalog.get("CIS-5.2.2")], fixture_set, load_config(), "rule", 2, interrupt_at_three
    )
    ran = [o for o in report.outcomes if o.status != "unexercised"]
    assert not report.complete and 3 <= len(ran) < 20
    saved = json.loads(mutate.write(report, tmp_path).read_text())
    assert saved["complete"] is False and len(saved["mutants"]) == len(report.outcomes)
