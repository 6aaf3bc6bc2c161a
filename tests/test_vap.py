"""The vap target: our controls as ValidatingAdmissionPolicies (CEL inside kube-apiserver),
replayed through the real local control plane with no webhook, beside the OPA webhook
on the same API server."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.model.catalog import load_catalog
from harness.model.cel import config_variables
from harness.model.config import load_config
from harness.model.vap import control_of, load_library, vap_dir
from harness.reporting.results import load_run
from harness.targets.vap import policy_objects
from tests.conftest import require_tool, small_run


def admission_controls():
    return [c for c in load_catalog().with_policy if "admission" in c.points]


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
        assert entry.entrypoint_at("admission") == f"controls/{policy.package}/deny"


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
    controls = "NSA-1.1,NSA-1.2,NSA-2.2,CIS-5.1.1,CIS-5.2.5"
    assert small_run(tmp_path, controls, target="vap", iterations=2, node_check_runs=0) == 0
    run = load_run(tmp_path)
    assert run.meta["target"] == "vap" and run.meta["complete"]
    reasons = {s["control"]: s["reason"] for s in run.meta["skipped"]}
    assert reasons["NSA-2.2"].startswith("CEL cannot decide NSA-2.2: it needs")
    policy = run.policy_records
    assert set(policy["control"]) == {"NSA-1.1", "NSA-1.2", "CIS-5.1.1", "CIS-5.2.5"}
    wrong = policy[~policy["correct"].astype(bool)]
    assert wrong.empty, wrong[["control", "fixture", "decision"]].drop_duplicates()
    comparison = pd.read_csv(tmp_path / "vap_vs_webhook.csv")
    assert set(comparison["control"]) == set(policy["control"])
    assert comparison["vap_right"].all() and comparison["webhook_right"].all()
    measured = run.mode_records("mechanisms").astype({"mechanism": str, "decision": str})
    assert measured.groupby("mechanism").size().to_dict() == {
        m: len(policy) for m in ("none", "vap", "webhook")
    }
    nothing = measured[measured["mechanism"] == "none"]
    assert set(nothing["decision"]) == {"allow"}  # neither the policy nor the webhook judged


def test_allowlist_globs_become_patterns_as_opa_reads_them():
    import re

    from harness.errors import HarnessError
    from harness.model.vap import glob_pattern

    def matches(glob: str, name: str) -> bool:
        return re.fullmatch(glob_pattern(glob), name) is not None

    assert matches("team-a/*", "team-a/reader")
    assert not matches("team-a/*", "team-b/reader")
    assert matches("ops:*", "ops:admin") and not matches("ops:*", "ops:admin.v2")
    assert matches("ops:**", "ops:admin.v2")
    assert matches("a?c", "abc") and not matches("a?c", "a.c")
    with pytest.raises(HarnessError, match="rbac_allowlist pattern"):
        glob_pattern("team-[ab]/*")


def test_kubernetes_own_rbac_objects_reach_the_policies_as_one_literal():
    from harness.model.vap import bootstrap_objects, cel_literal

    objects = bootstrap_objects()
    assert set(objects) == {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    binding = cel_literal(objects["ClusterRoleBinding"]["cluster-admin"])
    assert binding.startswith('{"roleRef": dyn({"apiGroup": dyn("rbac.authorization.k8s.io")')


def test_the_image_policy_parses_references_as_the_kubelet_does(tmp_path):
    """NSA-1.3's CEL (policies/vap/nsa_1_3.yaml) on the image-reference corpus, judged by
    distribution/reference's own parser: with every registry the oracle names trusted,
    the policy admits exactly the valid references; with Docker Hub alone trusted,
    exactly those it resolves to Docker Hub."""
    from dataclasses import replace

    from harness.model.fixtures import load_fixtures
    from harness.model.policies import PolicySet, load_modules
    from harness.targets.kube import PROBE_NAMESPACE, api_path
    from harness.targets.vap import VapTarget
    from tests.test_images import corpus, expected

    for tool in ("opa", "etcd", "kube-apiserver"):
        require_tool(tool)
    refs = [r for r in corpus() if r and r == r.strip()]
    want = expected(_oracle_binary(tmp_path), refs)
    registries = sorted({d for d in want.values() if d != "invalid"})
    config = {**load_config(), "trusted_registries": registries}
    controls = [c for c in load_catalog().with_policy if c.id == "NSA-1.3"]
    target = VapTarget()
    hub = replace(target.library.policies["NSA-1.3"], package="nsa_1_3_hub")
    hub_config = {**config, "trusted_registries": ["docker.io"]}
    target.start(PolicySet(load_modules(), config, load_fixtures(controls).state(), []))
    try:
        for body in policy_objects(hub, target.library, hub_config):
            kind = "validatingadmissionpolicies" if body["kind"].endswith("Policy") else (
                "validatingadmissionpolicybindings")  # fmt: skip
            target.objects.call("POST", f"/apis/admissionregistration.k8s.io/v1/{kind}", body)
        target.library.policies["NSA-1.3-hub"] = hub
        target._wait_for_policies()
        wrong = {}
        for ref in refs:
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "image", "namespace": PROBE_NAMESPACE},
                "spec": {"containers": [{"name": "c", "image": ref}]},
            }
            for package, allowed_when in (
                ("nsa_1_3", want[ref] != "invalid"),
                ("nsa_1_3_hub", want[ref] == "docker.io"),
            ):
                target._selected = package  # the policy this request is judged by
                decision = target._submit("POST", api_path(pod), pod, dry_run=True)
                if decision.allowed != allowed_when:
                    wrong[(package, ref)] = (decision.verdict, want[ref])
    finally:
        target.close()
    assert not wrong, f"{len(wrong)} differ, e.g. {list(wrong.items())[:5]}"


def _oracle_binary(tmp_path):
    import os
    import shutil
    import subprocess

    from tests.test_images import ORACLE

    if shutil.which("go") is None:
        if os.environ.get("CI"):
            pytest.fail("go is needed to build the image reference oracle")
        pytest.skip("go not on PATH: cannot build the image reference oracle")
    binary = tmp_path / "imageref"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=ORACLE, check=True, timeout=600)
    return binary


def test_a_fixture_user_is_replayed_in_a_routing_group_that_may_create(tmp_path):
    """A fixture's own user is impersonated in the routing group of each mechanism, whose
    binding lets it create what fixtures hold: every request is judged by admission
    (denied by the policies and the webhook, admitted by none), not forbidden by RBAC."""
    from harness.model.policies import PolicySet, load_modules
    from harness.targets.kube import PROBE_NAMESPACE, api_path, probe_pod
    from harness.targets.vap import MECHANISMS, NONE, VapTarget

    for tool in ("opa", "etcd", "kube-apiserver"):
        require_tool(tool)
    target = VapTarget()
    target.start(PolicySet(load_modules(), load_config(), {}, []))
    try:
        target._select("ALL")
        pod = probe_pod("as-user", PROBE_NAMESPACE)
        verdicts = {}
        for mechanism in MECHANISMS:
            with target._as(mechanism):
                decision = target._submit("POST", api_path(pod), pod, True, "someone-else")
            verdicts[mechanism] = decision.allowed
    finally:
        target.close()
    assert verdicts == {m: m == NONE for m in MECHANISMS}
