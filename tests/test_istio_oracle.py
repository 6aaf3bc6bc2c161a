"""The Istio oracle: NSA-2.6 against Istio's own injection and PeerAuthentication code
(harness/checks/istiodecider, built from istio.io/istio)."""

from __future__ import annotations

import json

from harness.checks import istiooracle
from harness.reporting.paper import reference_dir
from tests.test_netpol_oracle import require_go

ROOT = "istio-system"


def _pa(name: str, namespace: str, spec: dict, created: str = "2026-01-01T00:00:00Z") -> dict:
    return {
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
        "spec": spec,
    }


def _case(namespace_labels: dict, pod_labels: dict, policies: list, annotations=None) -> dict:
    metadata = {"name": "p", "namespace": "a", "labels": pod_labels}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "installation": 0,
        "namespace": {"metadata": {"name": "a", "labels": namespace_labels}},
        "pod": {"metadata": metadata, "spec": {"containers": [{"name": "c"}]}},
        "peer_authentications": policies,
    }


def test_generation_is_repeatable_and_covers_both_verdicts_and_every_installation():
    worlds = istiooracle.generate(500, seed=5)
    assert worlds == istiooracle.generate(500, seed=5)
    assert sum(len(w.cases) for w in worlds) == 500
    assert {w.installation for w in worlds} == set(range(len(istiooracle.INSTALLATIONS)))
    policies = [p for w in worlds for c in w.cases for p in c.policies]
    assert any("portLevelMtls" in p["spec"] for p in policies)
    assert any(p["spec"].get("selector") == {"matchLabels": {}} for p in policies)
    names = {c.namespace["metadata"]["name"] for w in worlds for c in w.cases}
    assert {"kube-system", "default"} <= names


def test_the_decider_runs_istios_code():
    """Cases whose answers Istio's own tests fix: the pod's label wins over the
    annotation (TestInjectRequired), the oldest policy wins with ties broken by name,
    and an UNSET port inherits the workload's mode (TestComposePeerAuthentication)."""
    require_go()
    enabled = {"istio-injection": "enabled", "kubernetes.io/metadata.name": "a"}
    strict = _pa("b-strict", "a", {"mtls": {"mode": "STRICT"}})
    permissive = _pa("a-permissive", "a", {"mtls": {"mode": "PERMISSIVE"}})
    workload = _pa(
        "w",
        "a",
        {
            "selector": {"matchLabels": {"app": "web"}},
            "portLevelMtls": {"8080": {}, "9090": {"mode": "DISABLE"}},
        },
    )
    answers = istiooracle.decider(
        {
            "installations": [{"revisions": ["default"], "root_namespace": ROOT}],
            "cases": [
                _case(
                    enabled,
                    {"sidecar.istio.io/inject": "true"},
                    [strict],
                    {"sidecar.istio.io/inject": "false"},
                ),
                _case(
                    enabled,
                    {"sidecar.istio.io/inject": "false"},
                    [strict],
                    {"sidecar.istio.io/inject": "true"},
                ),
                _case(enabled, {}, [strict, permissive]),
                _case(enabled, {"app": "web"}, [strict, workload]),
            ],
        }
    )
    assert [a["injected"] for a in answers] == [True, False, True, True]
    assert answers[0]["webhooks"] == ["namespace.sidecar-injector.istio.io"]
    assert answers[2]["mode"] == "PERMISSIVE"  # same second: a-permissive sorts first
    assert answers[3]["ports"] == {"8080": "STRICT", "9090": "DISABLE"}
    assert [istiooracle.breaks(a) for a in answers] == [False, True, True, True]


def test_oracle_agrees_with_istio(tmp_path):
    require_go()
    summary = istiooracle.run(300, 11, tmp_path, lambda: None)
    assert summary["disagreements"] == []
    assert 0 < summary["strict_by_istio"] < summary["injected_by_istio"] < 300
    assert (tmp_path / "cases.jsonl.gz").is_file()


def test_the_committed_oracle_run_found_no_disagreement():
    summary = json.loads((reference_dir() / "istio" / "summary.json").read_text())
    assert summary["disagreements"] == []
    assert summary["cases"] >= 1000
    assert summary["strict_by_istio"] > 100
