"""The vap target: our controls as ValidatingAdmissionPolicies (CEL inside kube-apiserver),
replayed through the real local control plane with no webhook, beside the OPA webhook
on the same API server."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.model.catalog import load_catalog
from harness.model.config import load_config
from harness.model.vap import control_of, load_library, vap_dir
from harness.reporting.results import load_run
from harness.targets.vap import config_variables, policy_objects
from tests.conftest import require_tool, small_run


def admission_controls():
    return [c for c in load_catalog().with_policy if c.enforcement == "admission"]


def test_every_admission_control_has_a_policy_or_a_stated_reason():
    library = load_library()
    listed = set(library.policies) | set(library.cannot) | set(library.unwritten)
    ids = {c.id for c in admission_controls()}
    assert ids == listed, (ids - listed, listed - ids)
    assert not set(library.policies) & (set(library.cannot) | set(library.unwritten))
    assert all(reason.strip() for reason in {**library.cannot, **library.unwritten}.values())


def test_each_policy_file_is_named_after_its_control_package():
    library = load_library()
    for control, policy in library.policies.items():
        assert control_of(policy.package) == control
        entry = next(c for c in admission_controls() if c.id == control)
        assert entry.entrypoint == f"controls/{policy.package}/deny"


def test_the_admin_config_reaches_the_policies_as_cel_lists():
    variables = {v["name"]: v["expression"] for v in config_variables(load_config())}
    assert json.loads(variables["cfgTrustedRegistries"]) == ["docker.io", "registry.k8s.io"]
    assert json.loads(variables["cfgSandboxRuntimeClasses"]) == ["gvisor", "kata"]
    subjects = json.loads(variables["cfgRbacAllowlistClusterAdminSubjects"])
    assert subjects == [{"kind": "Group", "name": "system:masters"}]
    assert not any(name.startswith("cfgExemptions") for name in variables)


def test_an_exemption_becomes_a_match_condition_of_that_control_only():
    library = load_library()
    config = {**load_config(), "exemptions": {"CIS-5.2.5": ["monitoring"]}}
    exempted, _ = policy_objects(library.policies["CIS-5.2.5"], library, config)
    other, _ = policy_objects(library.policies["CIS-5.2.4"], library, config)
    conditions = {c["name"]: c["expression"] for c in exempted["spec"]["matchConditions"]}
    assert conditions["not-exempt"] == '!(request.namespace in ["monitoring"])'
    assert "not-exempt" not in {c["name"] for c in other["spec"]["matchConditions"]}


def test_a_policy_file_without_validations_is_named_in_the_error(tmp_path):
    from harness.errors import HarnessError

    for name in ("lib.yaml", "unexpressed.yaml"):
        (tmp_path / name).write_text((vap_dir() / name).read_text())
    (tmp_path / "nsa_1_2.yaml").write_text("control: NSA-1.2\napplies_to: pods\n")
    with pytest.raises(HarnessError, match=r"nsa_1_2\.yaml: needs `control`"):
        load_library(tmp_path)


def test_vap_run_beside_the_opa_webhook(tmp_path):
    """A short run: every expressed control right on every fixture, the unexpressed ones
    skipped with their reason, and the OPA webhook measured on the same requests."""
    for tool in ("opa", "etcd", "kube-apiserver"):
        require_tool(tool)
    controls = "NSA-1.1,NSA-1.2,NSA-2.2,CIS-5.1.1,CIS-5.2.5,CIS-5.1.3"
    assert small_run(tmp_path, controls, target="vap", iterations=2, node_check_runs=0) == 0
    run = load_run(tmp_path)
    assert run.meta["target"] == "vap" and run.meta["complete"]
    reasons = {s["control"]: s["reason"] for s in run.meta["skipped"]}
    assert reasons["NSA-2.2"].startswith("CEL cannot decide NSA-2.2: it needs")
    assert reasons["CIS-5.1.3"] == "no ValidatingAdmissionPolicy for CIS-5.1.3 yet"
    policy = run.policy_records
    assert set(policy["control"]) == {"NSA-1.1", "NSA-1.2", "CIS-5.1.1", "CIS-5.2.5"}
    wrong = policy[~policy["correct"].astype(bool)]
    assert wrong.empty, wrong[["control", "fixture", "decision"]].drop_duplicates()
    comparison = pd.read_csv(tmp_path / "vap_vs_webhook.csv")
    assert set(comparison["control"]) == set(policy["control"])
    assert comparison["vap_right"].all() and comparison["webhook_right"].all()
    webhook = pd.DataFrame(run.extras["opa_webhook"])
    assert len(webhook) == len(policy)
