"""The NetworkPolicy oracle: NSA-2.2 and CIS-5.3.2 against cyclonus's policy matcher, on
pods that kube-controller-manager's workload controllers made."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from harness.checks import netpoloracle
from harness.reporting.paper import reference_dir
from tests.conftest import require_tool


def require_go() -> None:
    """The matcher's driver is built with Go: skip locally without it, fail in CI."""
    if shutil.which("go") is None:
        if os.environ.get("CI"):
            pytest.fail("the Go toolchain is missing (CI machines have Go)")
        pytest.skip("the Go toolchain is not on PATH")


def test_generation_is_repeatable_and_covers_every_kind_and_spelling():
    cases = netpoloracle.generate(300, seed=5)
    assert cases == netpoloracle.generate(300, seed=5)
    assert {c.workload["kind"] for c in cases} == set(netpoloracle.KINDS)
    specs = [p["spec"] for c in cases for p in c.policies]
    assert any("podSelector" not in s for s in specs)
    assert any("policyTypes" not in s for s in specs)
    assert any(s.get("ingress", 0) is None for s in specs)
    assert any(s.get("egress") == [] for s in specs)
    assert any(not c.policies for c in cases)  # CIS-5.3.2's case


def test_selectors_on_controller_labels_never_name_a_value():
    """Their values are unknown at admission (see the module docstring)."""
    for case in netpoloracle.generate(300, seed=6):
        for policy in case.policies:
            selector = policy["spec"].get("podSelector") or {}
            assert not set(selector.get("matchLabels") or {}) & set(netpoloracle._CONTROLLER_KEYS)
            for e in selector.get("matchExpressions") or []:
                if e["key"] in netpoloracle._CONTROLLER_KEYS and e["operator"] in ("In", "NotIn"):
                    assert case.workload["kind"] == "Job" and "job-name" in e["key"]


def test_the_driver_reads_selectors_as_kubernetes_does():
    """NotIn holds on a pod without the key (apimachinery), unlike cyclonus's own reading;
    a rule without peers and ports lets everything through."""
    require_go()
    selector = {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}
    policy = {
        "metadata": {"name": "p", "namespace": "a"},
        "spec": {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": [{}]},
    }
    pods = [
        {"namespace": "a", "labels": {"app": "web"}},
        {"namespace": "a", "labels": {"tier": "front"}},
        {"namespace": "b", "labels": {}},
    ]
    answers = netpoloracle.matcher({"policies": [policy], "pods": pods})
    assert [a["ingress"]["isolated"] for a in answers] == [True, False, False]
    assert answers[0]["ingress"] == {"isolated": True, "allow_all": True, "policies": ["p"]}
    assert answers[0]["egress"] == {"isolated": False, "allow_all": False, "policies": []}


def test_the_driver_answers_connections():
    """A pod isolated for ingress admits only what a rule names: here pods of namespace
    b on port 80; its egress, with no policy for it, is open."""
    require_go()
    policy = {
        "metadata": {"name": "p", "namespace": "a"},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],  # as the API server stores it
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": {"name": "b"}}}],
                    "ports": [{"port": 80}],
                }
            ],
        },
    }

    def peer(ns: str, ip: str) -> dict:
        return {"namespace": ns, "labels": {}, "namespace_labels": {"name": ns}, "ip": ip}

    a, b, c = peer("a", "10.0.0.1"), peer("b", "10.0.0.2"), peer("c", "10.0.0.3")
    answers = netpoloracle.traffic(
        [policy],
        [
            {"source": b, "destination": a, "port": 80},
            {"source": b, "destination": a, "port": 8080},
            {"source": c, "destination": a, "port": 80},
            {"source": a, "destination": c, "port": 80},
        ],
    )
    assert [x["ingress"] for x in answers] == [True, False, False, True]
    assert all(x["egress"] for x in answers)


def test_the_driver_answers_egress_to_metadata_endpoints():
    """NSA-2.8's question: an ipBlock reaches an address outside the cluster unless an
    except holds it, a pod peer never does, and ports and protocols count (80/TCP)."""
    require_go()

    def policy(name: str, selector: dict, rules: list) -> dict:
        spec = {"podSelector": selector, "policyTypes": ["Egress"], "egress": rules}
        return {"metadata": {"name": name, "namespace": "a"}, "spec": spec}

    block = {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}
    policies = [
        policy("internet", {"matchLabels": {"app": "web"}}, [{"to": [{"ipBlock": block}]}]),
        policy("pods", {"matchLabels": {"app": "api"}}, [{"to": [{"namespaceSelector": {}}]}]),
        policy(
            "udp", {"matchLabels": {"app": "dns"}}, [{"ports": [{"protocol": "UDP", "port": 80}]}]
        ),
    ]
    pods = [{"namespace": "a", "labels": {"app": app}} for app in ("web", "api", "dns", "other")]
    answers = netpoloracle.metadata_egress(policies, pods, ["169.254.169.254", "169.254.170.2"])
    assert answers == [
        {"169.254.169.254": False, "169.254.170.2": True},
        {"169.254.169.254": False, "169.254.170.2": False},
        {"169.254.169.254": False, "169.254.170.2": False},
        {"169.254.169.254": True, "169.254.170.2": True},
    ]


def test_live_sample_spreads_over_kinds_and_serves_unchanged_labels():
    from harness.checks import netpollive

    cases = netpoloracle.generate(300, seed=3)
    chosen = netpollive.sample(cases, 16, seed=3)
    assert chosen == netpollive.sample(cases, 16, seed=3)
    assert {c.workload["kind"] for c in chosen} == set(netpoloracle.KINDS)
    for case in chosen:
        served = netpollive.serving(case.workload, "img")
        assert json.dumps(served["metadata"]) == json.dumps(case.workload["metadata"])
        assert "nc -lk 80" in json.dumps(served)


def test_live_probes_on_kube_router_agree_with_the_matcher(tmp_path):
    """A small sample on a throw-away kind cluster with kube-router (skipped locally
    without the kind images, a failure in CI, which builds them)."""
    require_go()
    from harness.checks import netpollive
    from harness.errors import HarnessError
    from harness.infra import kind, kindimages

    try:
        kind.check_prerequisites()
        kindimages.require_node_image()
    except HarnessError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI must provision it in .ci/run)")
        pytest.skip(str(exc))
    for tool in ("kube-apiserver", "etcd", "kube-controller-manager"):
        require_tool(tool)
    summary = netpoloracle.run(40, 7, tmp_path, lambda: None, live=8)
    assert summary["disagreements"] == []
    assert summary["live"]["connections"] == 32
    assert summary["live"]["disagreements"] == []
    assert (tmp_path / "live.json").is_file()
    clusters = kind.run([kind.kind_binary(), "get", "clusters"], "kind get clusters").split()
    assert netpollive.CLUSTER not in clusters


def test_oracle_agrees_with_the_matcher(tmp_path):
    require_go()
    for tool in ("kube-apiserver", "etcd", "kube-controller-manager"):
        require_tool(tool)
    summary = netpoloracle.run(80, 11, tmp_path, lambda: None)
    assert summary["disagreements"] == []
    assert 0 < summary["broken_by_oracle"]["NSA-2.2"] < 80
    assert (tmp_path / "cases.jsonl.gz").is_file()


def test_the_committed_oracle_run_found_no_disagreement():
    summary = json.loads((reference_dir() / "netpol" / "summary.json").read_text())
    assert summary["disagreements"] == []
    assert summary["cases"] >= 1000
    assert all(n > 50 for n in summary["kinds"].values())
