"""Peers side by side: the mapping file, each adapter on real tools, and the report."""

from __future__ import annotations

import json

import pytest

from harness.errors import HarnessError
from harness.infra.psa import fired_checks, forbidden_reasons
from harness.model.peers import PeerMapping, fired_for, load_peers
from harness.peers import run as peers_run
from harness.peers.run import ADAPTERS
from harness.reporting import peers as peers_report
from tests.conftest import harness_cli, require_tool


def test_every_mapped_control_and_tool_exists(catalog):
    from harness.infra.tools import TOOLS

    peers = load_peers(catalog)
    assert {"psa", "checkov", "kube-score"} <= set(peers)
    for peer in peers.values():
        assert peer.controls, peer.name
        assert peer.tool is None or peer.tool in TOOLS
        assert peer.name == "psa" or peer.name in ADAPTERS


def test_an_unknown_control_in_the_mapping_names_the_file(catalog, tmp_path):
    bad = tmp_path / "peers.yaml"
    bad.write_text(
        "peers:\n  x:\n    title: X\n    kind: scanner\n    source: s\n"
        "    controls:\n      NSA-9.9: [a]\n"
    )
    with pytest.raises(HarnessError, match=r"peers.yaml: peer x: unknown control id NSA-9.9"):
        load_peers(catalog, bad)


def test_psa_reasons_are_read_from_its_refusal():
    message = (
        'pods "p" is forbidden: violates PodSecurity "restricted:latest": privileged '
        '(container "app" must not set securityContext.privileged=true), '
        'unrestricted capabilities (container "app" must set securityContext.capabilities.drop'
        '=["ALL"]), host namespaces (hostNetwork=true, hostPID=true)'
    )
    assert forbidden_reasons(message) == {
        "privileged",
        "unrestricted capabilities",
        "host namespaces",
    }
    fired = fired_checks(message)
    assert {"host namespaces: hostPID", "host namespaces: hostNetwork"} <= fired
    assert "host namespaces: hostIPC" not in fired
    assert forbidden_reasons("some other refusal") == set()


def test_only_mapped_checks_count():
    peer = PeerMapping("p", "P", "scanner", None, "s", {"C-1": ("a", "b"), "C-2": ("*",)})
    assert fired_for(peer, "C-1", {"a", "z"}) == ["a"]
    assert fired_for(peer, "C-1", {"z"}) == []
    assert fired_for(peer, "C-2", {"z"}) == ["z"]
    assert fired_for(peer, "C-3", {"a"}) is None


def test_outcomes_per_control_and_peer():
    doc = {
        "peers": {"p": {"status": "ran", "version": "1"}},
        "records": [
            {"peer": "p", "control": "C", "fixture": "f1", "expected": "deny", "verdict": "deny", "checks": ["a"]},
            {"peer": "p", "control": "C", "fixture": "f2", "expected": "deny", "verdict": "allow", "checks": []},
            {"peer": "p", "control": "C", "fixture": "f3", "expected": "allow", "verdict": "deny", "checks": ["a"]},
            {"peer": "p", "control": "C", "fixture": "f4", "expected": "allow", "verdict": "allow", "checks": []},
            {"peer": "p", "control": "C", "fixture": "f5", "expected": "allow", "verdict": "unreadable", "checks": []},
        ],
    }  # fmt: skip
    row = peers_report.per_control(doc).iloc[0]
    assert (row["caught"], row["missed"], row["false alarm"], row["passed"]) == (1, 1, 1, 1)
    assert row["unreadable"] == 1 and not row["agrees"]
    assert list(peers_report.disagreements(doc)["fixture"]) == ["f2", "f3"]
    total = peers_report.per_peer(doc, 55).iloc[0]
    assert (total["false allows"], total["false alarms"]) == (1, 1)
    assert peers_report.matrix(doc, ["C", "D"])["p"].tolist() == ["1 missed, 1 false"]


@pytest.mark.parametrize(
    ("peer", "check"),
    [
        ("checkov", "CKV_K8S_16"),
        ("kube-score", "container-security-context-privileged"),
        ("trivy", "KSV-0017"),
        ("kyverno", "pac-harness-cis-5-2-2"),
    ],
)
def test_a_scanner_reports_the_privileged_container(peer, check, fixture_set):
    binary = require_tool(peer)
    fixtures = [
        f
        for f in fixture_set.unique
        if f.id in ("CIS-5.2.2/deny/privileged-true", "CIS-5.2.2/allow/privileged-false")
    ]
    assert len(fixtures) == 2
    fired = ADAPTERS[peer](binary, fixtures)
    assert check in fired["CIS-5.2.2/deny/privileged-true"]
    assert check not in fired["CIS-5.2.2/allow/privileged-false"]


def test_a_peer_that_cannot_run_is_reported_and_the_others_still_run(
    catalog, fixture_set, policy_set
):
    require_tool("kube-score")
    peers = load_peers(catalog)
    broken = PeerMapping("nope", "Nope", "scanner", "nope", "s", {"CIS-5.2.2": ("x",)})
    chosen = {"nope": broken, "kube-score": peers["kube-score"]}
    control = [catalog.get("CIS-5.2.2")]
    run = peers_run.run_peers(chosen, control, fixture_set, policy_set, log=lambda _: None)
    assert run.peers["nope"]["status"] == "failed"
    assert run.peers["kube-score"]["status"] == "ran"
    assert {r["peer"] for r in run.records} == {"kube-score"}


def test_peers_command_writes_a_run_with_psa_and_the_scanners(tmp_path):
    for tool in ("kube-apiserver", "checkov", "kube-score"):
        require_tool(tool)
    out = tmp_path / "peers"
    result = harness_cli(
        "peers", "--peers", "psa,checkov,kube-score", "--controls", "CIS-5.2.2", "--out", str(out),
        timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads((out / "peers.json").read_text())
    assert {n for n, s in doc["peers"].items() if s["status"] == "ran"} == {
        "psa",
        "checkov",
        "kube-score",
    }
    table = peers_report.per_control(doc)
    assert set(table["control"]) == {"CIS-5.2.2"}
    assert (table["caught"] > 0).all()
    # A privileged debug container reaches PSA as the update it is, and is refused.
    debug = next(
        r
        for r in doc["records"]
        if r["peer"] == "psa" and r["fixture"].endswith("ephemeral-privileged")
    )
    assert (debug["verdict"], debug["checks"]) == ("deny", ["privileged"])


def test_kyverno_maps_each_control_to_its_own_policy(catalog):
    """Derived from policies/vap: a control's CEL policy maps it with no second list."""
    mapped = load_peers(catalog)["kyverno"].controls
    assert mapped["CIS-5.2.2"] == ("pac-harness-cis-5-2-2",)
    assert "CIS-5.4.2" not in mapped  # a Secret's writer: no requester offline
    assert "NSA-2.2" not in mapped  # no CEL policy (it needs the NetworkPolicies)


def test_a_derived_peer_names_its_source(catalog, tmp_path):
    bad = tmp_path / "peers.yaml"
    bad.write_text(
        "peers:\n  k:\n    title: t\n    kind: admission\n    source: s\n    derived_from: rego\n"
    )
    with pytest.raises(HarnessError, match="derived_from is vap"):
        load_peers(catalog, bad)


def test_psa_checks_of_one_field_of_a_reason(catalog):
    """`host namespaces: hostPID` fires on hostPID only, as the fuzzer compares it."""
    message = 'violates PodSecurity "restricted:latest": host namespaces (hostNetwork=true)'
    fired = fired_checks(message)
    checks = load_peers(catalog)["psa"].controls
    assert set(checks["CIS-5.2.5"]) <= fired
    assert not set(checks["CIS-5.2.3"]) & fired


def test_kyverno_policies_carry_our_cel_and_podsecurity_for_nsa_1_4():
    from harness.model.config import load_config
    from harness.model.vap import load_library
    from harness.peers.kyverno import kyverno_policies

    policies = {p["metadata"]["name"]: p for p in kyverno_policies(load_library(), load_config())}
    pss = policies["pac-harness-nsa-1-4"]
    assert pss["kind"] == "ClusterPolicy"
    assert pss["spec"]["rules"][0]["validate"]["podSecurity"]["level"] == "restricted"
    cel = policies["pac-harness-cis-5-2-2"]
    assert (cel["apiVersion"], cel["kind"]) == ("policies.kyverno.io/v1", "ValidatingPolicy")
    assert "matchConditions" not in cel["spec"]  # no selection by group: one policy per call
