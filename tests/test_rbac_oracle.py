"""The RBAC oracle: CIS-5.1.2, 5.1.3, 5.1.4 and 5.1.8 against kube-apiserver's RBAC
authorizer, with kube-controller-manager aggregating ClusterRoles."""

from __future__ import annotations

import json

from harness.checks import rbacoracle
from harness.reporting.paper import reference_dir
from tests.conftest import require_tool


def test_generation_is_repeatable_and_aggregates_some_roles():
    roles = rbacoracle.generate(80, seed=5)
    assert roles == rbacoracle.generate(80, seed=5)
    aggregated = [r for r in roles if "aggregationRule" in r]
    assert 5 < len(aggregated) < 40
    assert all(r["rules"] == [] for r in aggregated)


def test_probes_ask_for_made_up_values_only_wildcards_admit():
    rule = {"verbs": ["get"], "apiGroups": ["*"], "resources": ["pods", "*/status"]}
    asked = rbacoracle.probes([rule])["CIS-5.1.3"]
    assert {"name": "", "verb": "get", "group": rbacoracle.PROBE_GROUP, "resource": "pods",
            "subresource": ""} in asked  # fmt: skip
    assert any(p["subresource"] == "status" and p["resource"] == rbacoracle.PROBE_RESOURCE
               for p in asked)  # fmt: skip
    urls = rbacoracle.probes([{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}])["CIS-5.1.3"]
    assert urls == [{"verb": rbacoracle.PROBE_VERB, "path": "/metrics"}]


def test_oracle_agrees_with_the_authorizer(tmp_path):
    require_tool("kube-apiserver")
    require_tool("etcd")
    require_tool("kube-controller-manager")
    summary = rbacoracle.run(60, 7, tmp_path, lambda: None)
    assert summary["disagreements"] == []
    assert summary["aggregated"] > 5
    assert all(n > 0 for n in summary["denied_by_oracle"].values())


def test_the_committed_oracle_run_found_no_disagreement():
    summary = json.loads((reference_dir() / "rbac" / "summary.json").read_text())
    assert summary["disagreements"] == []
    assert summary["roles"] >= 200
