"""Catalog integrity: 55 controls as the thesis numbers them, each RD control backed by a
policy and enough fixtures, and load-time validation that names the bad entry."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from harness import paths
from harness.errors import HarnessError
from harness.model.catalog import load_catalog
from harness.model.fixtures import load_folder
from harness.model.manifests import POD_BEARING

NSA_IDS = [
    "NSA-1.1",
    "NSA-1.2",
    "NSA-1.3",
    "NSA-1.4",
    "NSA-1.5",
    "NSA-1.6",
    "NSA-2.1",
    "NSA-2.2",
    "NSA-2.3",
    "NSA-2.4",
    "NSA-2.5",
    "NSA-2.6",
    "NSA-2.7",
    "NSA-2.8",
    "NSA-3.1",
    "NSA-3.2",
    "NSA-4.1.1",
    "NSA-4.1.2",
    "NSA-4.1.3",
    "NSA-4.1.4",
    "NSA-4.1.5",
    "NSA-4.1.6",
    "NSA-4.1.7",
    "NSA-4.2.1",
    "NSA-4.3",
]
CIS_IDS = [
    *(f"CIS-5.1.{i}" for i in range(1, 9)),
    *(f"CIS-5.2.{i}" for i in range(1, 14)),
    "CIS-5.3.1",
    "CIS-5.3.2",
    "CIS-5.4.1",
    "CIS-5.4.2",
    "CIS-5.5.1",
    *(f"CIS-5.6.{i}" for i in range(1, 5)),
]


def test_all_55_controls_in_table_order(catalog):
    assert [c.id for c in catalog.framework("nsa")] == NSA_IDS
    assert [c.id for c in catalog.framework("cis")] == CIS_IDS
    assert len(catalog) == 55


def test_thesis_verdicts_add_up_to_its_totals(catalog):
    """Tables 6.1 and 6.2: 14/25 NSA and 19/30 CIS implementable, 33/55 in all."""
    for framework, enforceable in (("nsa", 14), ("cis", 19)):
        verdicts = [c.thesis for c in catalog.framework(framework) if c.thesis is not None]
        assert sum(t.enforceable for t in verdicts) == enforceable


def test_cis_5_6_are_5_7_in_the_published_benchmark(catalog):
    for i in range(1, 5):
        assert catalog.get(f"CIS-5.6.{i}").published_id == f"CIS-5.7.{i}"
    assert all(c.published_id is None for c in catalog if not c.id.startswith("CIS-5.6"))


def test_every_rd_control_has_policy_and_fixtures(catalog):
    for control in catalog:
        if control.assessment != "RD":
            continue
        assert control.policy, control.id
        cases = load_folder(control.fixtures)
        allow = [f for f in cases if f.expect == "allow"]
        deny = [f for f in cases if f.expect == "deny"]
        assert len(allow) >= 2, f"{control.id}: needs at least 2 allow fixtures"
        assert len(deny) >= 3, f"{control.id}: needs at least 3 deny fixtures"


def test_each_admission_policy_names_its_own_control(catalog):
    """A control's id is a literal in its deny heads and exemption lookups (a rule
    reference costs OPA an evaluation each time): every literal is the catalog's id."""
    for control in catalog.with_policy:
        policy = paths.policies_dir() / "controls" / control.policy / "policy.rego"
        if not policy.is_file():
            continue
        text = policy.read_text()
        heads = re.findall(r'^deny contains concat\("", \["\[([^\]]+)\] ', text, re.M)
        lookups = re.findall(r'not k8s\.exempt_controls\["([^"]+)"\]', text)
        rules = len(re.findall(r"^deny contains ", text, re.M))
        assert len(heads) == len(lookups) == rules > 0, policy
        assert set(heads) | set(lookups) == {control.id}, policy


def test_fixtures_cover_absent_explicit_and_templates(catalog):
    """A field left out (denied, or admitted where absence is safe), a field set to a bad
    value, and for controls that deny pods a workload template, are all exercised."""
    for control in catalog.with_policy:
        cases = load_folder(control.fixtures)
        deny_tags = {tag for f in cases if f.expect == "deny" for tag in f.covers}
        all_tags = {tag for f in cases for tag in f.covers}
        assert "absent" in all_tags, f"{control.id}: no fixture leaves the field out"
        assert "explicit" in deny_tags, f"{control.id}: no deny fixture sets a bad value"
        if any(f.subject.kind in POD_BEARING for f in cases if f.expect == "deny"):
            assert "template" in deny_tags, f"{control.id}: no deny fixture in a workload template"


def test_container_controls_cover_init_or_ephemeral(catalog, fixture_set, embedded):
    """A control whose denials name containers must also be shown to catch a violation that
    sits only in an init or ephemeral container."""
    for control in catalog.with_policy:
        fixtures = fixture_set.by_control[control.id]
        messages = [
            m
            for f in fixtures
            if f.expect == "deny"
            for m in embedded.decide(embedded.prepare(f.input, f.entrypoint(control))).messages
        ]
        if any(": container " in m for m in messages):
            tags = {t for f in fixtures if f.expect == "deny" for t in f.covers}
            assert tags & {"init", "ephemeral"}, f"{control.id}: no init/ephemeral deny fixture"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e[0].update(colour="blue"), "unknown key(s) colour"),
        (lambda e: e.append(dict(e[0])), "duplicate control id NSA-1.1"),
        (lambda e: e[0].pop("policy"), "NSA-1.1: an RD control needs a policy"),
        (lambda e: e[0].update(policy="no_such_pkg"), "policy no_such_pkg not found"),
        (lambda e: e[0].update(assessment="RX"), "assessment must be one of"),
        (lambda e: e[0].update(thesis={"assessment": "RD", "verdict": "yes"}), "thesis.verdict"),
        (lambda e: e[0].update(thesis="n/a"), "thesis must have exactly assessment and verdict"),
        (lambda e: e[0].update(framework="cis"), "does not match the id"),
        (lambda e: e[0].update(also_at={"admission": "nsa_1_1"}), "also_at point must be"),
        (lambda e: e[0].update(also_at={"node": "Bad-Name"}), "also_at.node must be a Rego"),
        (lambda e: e[0].update(also_at={"node": "no_such_pkg"}), "no_such_pkg not found"),
        (lambda e: e[0].update(also_at=["node"]), "also_at maps enforcement points"),
    ],
)
def test_catalog_validation_names_the_entry(tmp_path, mutate, message):
    entries = yaml.safe_load(Path("scenarios/catalog.yaml").read_text())
    mutate(entries)
    bad = tmp_path / "catalog.yaml"
    bad.write_text(yaml.safe_dump(entries, allow_unicode=True))
    with pytest.raises(HarnessError) as exc:
        load_catalog(bad)
    assert message in str(exc.value)
    assert str(bad) in str(exc.value)


def test_malformed_catalog_is_one_line_error(tmp_path):
    bad = tmp_path / "catalog.yaml"
    bad.write_text("- id: NSA-1.1\n  title: [unclosed\n")
    with pytest.raises(HarnessError, match="malformed YAML") as exc:
        load_catalog(bad)
    assert "\n" not in str(exc.value)


def test_unknown_control_id(catalog):
    with pytest.raises(HarnessError, match=r"unknown control id 'NSA-9\.9'"):
        catalog.select(["NSA-9.9"])


def test_a_fixture_needs_a_policy_at_its_point(tmp_path):
    """A node tree in the folder of a control without a node policy is refused, naming
    the file, rather than fed to the admission policy."""
    from harness.model.fixtures import load_fixtures

    control = load_catalog().get("NSA-1.1")
    folder = tmp_path / control.fixtures
    shutil.copytree(paths.fixtures_dir() / control.fixtures, folder)
    tree = folder / "allow" / "node.yaml"
    tree.write_text("apiVersion: pac-harness.io/v1\nkind: NodeTree\nmetadata: {name: n}\n")
    suite = folder / "suite.yaml"
    suite.write_text(suite.read_text() + "- file: allow/node.yaml\n  covers: [explicit]\n")
    with pytest.raises(HarnessError) as exc:
        load_fixtures([control], tmp_path)
    assert str(exc.value).startswith(f"{tree}: NSA-1.1 has no policy at the node point")


def test_cis_5_1_7_is_decided_at_admission_and_on_the_node(catalog):
    control = catalog.get("CIS-5.1.7")
    assert control.entrypoints == ["controls/cis_5_1_7/deny", "node/cis_5_1_7/deny"]
    assert [c.id for c in catalog.select_for(["CIS-5.1.7"], "node-check")] == ["CIS-5.1.7"]
    assert [c.id for c in catalog.select_for(["CIS-5.1.7"], "check")] == ["CIS-5.1.7"]
