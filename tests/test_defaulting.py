"""model.defaulting (what kube-apiserver makes of a manifest before a webhook sees it),
case by case and against the real API server (the defaulting oracle)."""

from __future__ import annotations

import json

from harness.checks import defaultingoracle
from harness.model.defaulting import admitted, admitted_review
from harness.model.manifests import admission_review
from harness.reporting.paper import reference_dir
from tests.conftest import require_tool


def pod(spec: dict, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **meta}, "spec": spec}


def test_pod_spec_defaults_policies_read():
    body = pod(
        {
            "serviceAccount": "web",
            "hostNetwork": True,
            "containers": [
                {
                    "name": "a",
                    "ports": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 0}],
                }
            ],
            "volumes": [{"name": "scratch"}, {"name": "conf", "configMap": {"name": "c"}}],
            "nodeSelector": {},
            "tolerations": [],
            "priorityClassName": None,
        }
    )
    spec = admitted(body)["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "web"
    assert spec["securityContext"] == {}
    assert [p["hostPort"] for p in spec["containers"][0]["ports"]] == [80, 81]
    assert spec["volumes"][0] == {"name": "scratch", "emptyDir": {}}
    assert "nodeSelector" not in spec and "tolerations" not in spec
    assert "priorityClassName" not in spec
    assert body["spec"]["serviceAccount"] == "web" and "serviceAccountName" not in body["spec"]


def test_templates_are_not_defaulted_like_pods():
    """hostPort follows containerPort on Pods only (SetDefaults_Pod)."""
    template = {
        "spec": {
            "hostNetwork": True,
            "containers": [{"name": "a", "ports": [{"containerPort": 80}]}],
        }
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": template},
    }
    spec = admitted(deployment)["spec"]["template"]["spec"]
    assert spec["containers"][0]["ports"] == [{"containerPort": 80}]
    assert spec["securityContext"] == {}


def test_apparmor_annotation_becomes_the_field_on_pods():
    body = pod(
        {
            "containers": [
                {"name": "a"},
                {"name": "b", "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}}},
            ]
        },
        annotations={
            "container.apparmor.security.beta.kubernetes.io/a": "localhost/custom",
            "container.apparmor.security.beta.kubernetes.io/b": "unconfined",
        },
    )
    containers = admitted(body)["spec"]["containers"]
    assert containers[0]["securityContext"] == {
        "appArmorProfile": {"type": "Localhost", "localhostProfile": "custom"}
    }
    assert containers[1]["securityContext"] == {"appArmorProfile": {"type": "RuntimeDefault"}}


def test_network_policy_as_stored():
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "n"},
        "spec": {"policyTypes": [], "egress": [], "ingress": [{"from": None, "ports": []}]},
    }
    assert admitted(body)["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{}],
    }
    body["spec"]["egress"] = [{"to": [{"podSelector": {}}]}]
    assert admitted(body)["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_limit_range_default_from_max():
    body = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "l"},
        "spec": {
            "limits": [
                {"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "1Mi"}},
                {"type": "Pod", "max": {}},
            ]
        },
    }
    first, second = admitted(body)["spec"]["limits"]
    assert first["default"] == {"cpu": "1"}
    assert first["defaultRequest"] == {"cpu": "1", "memory": "1Mi"}
    assert second == {"type": "Pod"}


def test_reviews_carry_the_admitted_object_and_old_object():
    before = pod({"containers": [{"name": "a"}]})
    review = admission_review(
        pod({"serviceAccount": "x", "containers": [{"name": "a"}]}), "UPDATE", old=before
    )
    request = admitted_review(review)["request"]
    assert request["object"]["spec"]["serviceAccountName"] == "x"
    assert request["oldObject"]["spec"]["securityContext"] == {}
    assert admitted_review({"objects": {}}) == {"objects": {}}


def test_oracle_agrees_with_kube_apiserver(tmp_path):
    """Fixtures, fuzzed pods and generated policies through the real API server."""
    require_tool("kube-apiserver")
    require_tool("etcd")
    cases = defaultingoracle.corpus(seed=3, fuzz_count=300, generated=200)
    summary = defaultingoracle.run(cases, 3, tmp_path, lambda: None)
    assert summary["disagreements"] == []
    assert summary["compared"] > 500
    assert {"NetworkPolicy", "LimitRange", "Pod", "Deployment", "CronJob"} <= set(summary["kinds"])


def test_the_committed_oracle_run_found_no_disagreement():
    summary = json.loads((reference_dir() / "defaulting" / "summary.json").read_text())
    assert summary["disagreements"] == []
    assert summary["by_source"]["fuzz"]["agree"] >= 5000
    assert summary["by_source"]["generated"]["agree"] >= 1000
