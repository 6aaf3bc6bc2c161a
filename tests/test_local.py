"""The local control plane target: real etcd and kube-apiserver built from source, OPA
registered as a validating webhook over HTTPS, fixtures submitted with dry-run. Started
once for the module; needs the pinned tools (CI builds them in .ci/run)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness import paths
from harness.errors import TargetError
from harness.model.catalog import load_catalog
from harness.model.config import load_config
from harness.model.fixtures import load_fixtures
from harness.model.manifests import admission_review
from harness.model.policies import PolicySet, RegoModule, combined_queries, load_modules
from harness.reporting.report import psa_summary
from harness.reporting.results import load_run
from harness.targets.base import SkipFixture
from harness.targets.local import LocalTarget
from tests.conftest import require_tool, small_run

# NSA-2.6 reads Istio PeerAuthentications replicated from the API server; NSA-1.2 has an
# ephemeral-container UPDATE fixture; NSA-2.1 denies a pod in kube-system, which the
# webhook must therefore see.
CONTROLS = [
    "NSA-1.1",
    "NSA-1.2",
    "NSA-1.5",
    "NSA-2.1",
    "NSA-2.2",
    "NSA-2.6",
    "CIS-5.2.5",
    "CIS-5.1.1",
    "CIS-5.4.1",
    "CIS-5.4.2",  # its Secrets are replayed as the users their suite names
]


# A policy that names who made the request: a fixture's own user must reach OPA as made.
WHOAMI = RegoModule(
    paths.policies_dir() / "controls" / "harness_whoami" / "policy.rego",
    """package controls.harness_whoami

deny contains concat("", ["made by ", input.request.userInfo.username])
""",
)


@pytest.fixture(scope="module")
def local():
    for tool in ("opa", "etcd", "kube-apiserver"):
        require_tool(tool)
    catalog = load_catalog()
    controls = [c for c in catalog.with_policy if "admission" in c.points]
    fixtures = load_fixtures(controls)
    policy = PolicySet(
        [*load_modules(), WHOAMI],
        load_config(),
        fixtures.state(),
        [c.entrypoint_at("admission") for c in controls] + combined_queries(["admission"]),
    )
    target = LocalTarget()
    target.start(policy)
    yield target, catalog, fixtures
    target.close()


def test_every_fixture_passes_real_api_server_validation(local):
    """Where fixtures meet a real Kubernetes: a rejection that is not the webhook's is a
    broken fixture."""
    target, catalog, fixtures = local
    broken = []
    for fixture in fixtures.unique:
        control = next(
            c for c in catalog.with_policy if fixture in fixtures.by_control.get(c.id, [])
        )
        try:
            target.decide(target.prepare(fixture.input, fixture.entrypoint(control)))
        except SkipFixture:
            continue
        except TargetError as exc:
            broken.append(f"{fixture.id}: {exc}")
    assert broken == [], "\n".join(broken)


def test_state_reaches_opa_through_replication(local):
    """What policies read is what the API server holds: objects carry server-set fields,
    and a deletion in the cluster disappears from OPA."""
    target, _, _ = local
    opa = target.opa.data_client()
    try:
        pa = opa.get("kubernetes/peerauthentications/mtls-strict-namespace/default")
        assert pa["spec"]["mtls"]["mode"] == "STRICT"
        assert pa["metadata"]["uid"]  # set by kube-apiserver, so replicated, not bundled
        quota = {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "replication-probe", "namespace": "default"},
            "spec": {"hard": {"pods": "1"}},
        }
        target.objects.create(quota)
        while opa.get("kubernetes/resourcequotas/default/replication-probe") is None:
            time.sleep(0.05)
        target.objects.call("DELETE", "/api/v1/namespaces/default/resourcequotas/replication-probe")
        deadline = time.monotonic() + 30
        while opa.get("kubernetes/resourcequotas/default/replication-probe") is not None:
            assert time.monotonic() < deadline, "deletion not replicated"
            time.sleep(0.05)
    finally:
        opa.close()


def test_calico_policies_are_real_api_objects(local):
    target, _, _ = local
    policy = {
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "default-deny"},
        "spec": {"selector": "all()", "types": ["Ingress", "Egress"]},
    }
    target.objects.call(
        "POST", "/apis/crd.projectcalico.org/v1/globalnetworkpolicies", policy, [("dryRun", "All")]
    )


@pytest.mark.parametrize("control_id", CONTROLS)
def test_decisions_through_the_api_server_match_the_embedded_engine(local, embedded, control_id):
    target, catalog, fixtures = local
    control = catalog.get(control_id)
    for fixture in fixtures.by_control[control_id]:
        try:
            prepared = target.prepare(fixture.input, fixture.entrypoint(control))
        except SkipFixture:
            continue
        via_api = target.decide(prepared)
        direct = embedded.decide(embedded.prepare(fixture.input, fixture.entrypoint(control)))
        assert via_api.allowed == direct.allowed, fixture.id
        assert set(via_api.messages) == set(direct.messages), fixture.id


def test_a_fixture_user_is_impersonated_with_a_grant_in_its_namespace_only(local):
    """The request reaches the webhook as made by the fixture's user, who may create the
    reviewed kinds in the fixture's namespace through a RoleBinding there, and nowhere
    else: no cluster-wide binding is made."""
    from harness.targets.kube import REPLAY_GROUP, REPLAY_ROLE

    target, _, _ = local
    user = "system:serviceaccount:external-secrets:external-secrets"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "who", "namespace": "replay-as"},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
    }
    query = "controls/harness_whoami/deny"
    as_user = target.decide(target.prepare(admission_review(pod, user=user), query))
    assert as_user.messages == (f"made by {user}",)
    as_harness = target.decide(target.prepare(admission_review(pod), query))
    assert as_harness.messages != as_user.messages  # no fixture user: the harness's own
    binding = json.loads(
        target.objects.call(
            "GET",
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/replay-as/rolebindings/{REPLAY_ROLE}",
        )
    )
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": REPLAY_GROUP}
    ]
    cluster_bindings = json.loads(
        target.objects.call("GET", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")
    )["items"]
    assert not [b for b in cluster_bindings if b["roleRef"]["name"] == REPLAY_ROLE]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "x"},
    }
    with pytest.raises(SkipFixture, match="cluster-scoped"):
        target.prepare(admission_review(role, user=user), query)


def test_run_against_the_local_control_plane(tmp_path):
    for tool in ("opa", "etcd", "kube-apiserver"):
        require_tool(tool)
    out = tmp_path / "run"
    code = small_run(out, "NSA-1.1,CIS-5.1.1", combined=1, iterations=2, target="local")
    assert code == 0
    run = load_run(out)
    assert run.meta["complete"] is True
    assert run.records["correct"].dropna().all()
    assert run.meta["skipped"] == []  # the ephemeral-container UPDATE is replayed too
    baseline = run.mode_records("baseline")
    assert len(baseline) and set(baseline["mechanism"]) == {"none"}
    psa = {row["fixture"]: row for row in psa_summary(run).to_dict("records")}
    # A pod without any security settings is refused by the real PSA and by NSA-1.4.
    assert psa["non-root/deny/no-security-context"]["psa"] == "deny"
    assert psa["non-root/deny/no-security-context"]["nsa_1_4"] == "deny"
    assert (out / "psa_agreement.csv").is_file()
    overhead = (out / "webhook_overhead.csv").read_text()
    assert "NSA-1.1" in overhead and "CIS-5.1.1" in overhead
    assert json.loads((out / "coverage.json").read_text())["totals"]["all"]["enforced"] == 2
    assert not Path(run.meta.get("kubeconfig", "/nonexistent")).exists()


def test_audit_a_live_cluster_seeded_with_a_cluster_admin_binding(local):
    """The thesis's limitation 4: objects that exist are audited, not only new ones."""
    import subprocess
    import sys

    target, _, _ = local
    target._select("cis_5_6_4")  # the webhook lets RBAC objects through for this control
    target.objects.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "mallory-admin"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}
            ],
        }
    )
    # An Istio control plane whose MeshConfig (read by name) turns access logging on.
    istio = {"name": "istiod", "namespace": "istio-system"}
    target.objects.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}
    )
    target.objects.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "istio", "namespace": "istio-system"},
            "data": {"mesh": "accessLogFile: /dev/stdout\n"},
        }
    )
    target.objects.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": istio,
            "spec": {
                "selector": {"matchLabels": {"app": "istiod"}},
                "template": {
                    "metadata": {"labels": {"app": "istiod"}},
                    "spec": {"containers": [{"name": "discovery", "image": "istio/pilot:1.28.0"}]},
                },
            },
        }
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "audit",
            "--kubeconfig",
            str(target.local.cluster.kubeconfig),
            "--controls",
            "CIS-5.1.1,CIS-5.1.7,CIS-5.2.1,CIS-5.3.1,NSA-4.1.6",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    denied = {
        (f["resource"], f["control"]): f["messages"]
        for f in json.loads(result.stdout)
        if f["decision"] == "deny"
    }
    assert denied[("ClusterRoleBinding/mallory-admin", "CIS-5.1.1")] == [
        "[CIS-5.1.1] ClusterRoleBinding mallory-admin: binds cluster-admin to User mallory, "
        "which is not in the allowlist"
    ]
    # Kubernetes' own cluster-admin binding (system:masters) is allowlisted; our webhook
    # covers pods, so CIS-5.2.1 holds on this cluster.
    assert ("ClusterRoleBinding/cluster-admin", "CIS-5.1.1") not in denied
    # Nor are the bootstrap Roles and RoleBindings in kube-system flagged (defaults).
    assert not [
        r for r, _ in denied if r.startswith(("Role/kube-system/", "RoleBinding/kube-system/"))
    ]
    assert ("cluster", "CIS-5.2.1") not in denied
    # The MeshConfig was read: only the missing mesh-wide mTLS is reported.
    assert denied[("cluster", "NSA-4.1.6")] == [
        "[NSA-4.1.6] cluster: no mesh-wide PeerAuthentication with mtls.mode STRICT in istio-system"
    ]
    # A control plane without nodes cannot run the NetworkPolicy probe: said at once, and
    # CIS-5.3.1 falls back to the plugin's name (none here).
    assert "note: no network-policy probe (no Ready, schedulable node" in result.stderr
    assert denied[("cluster", "CIS-5.3.1")] == [
        "[CIS-5.3.1] cluster: no known network plugin found; cannot tell whether "
        "NetworkPolicy is enforced"
    ]
