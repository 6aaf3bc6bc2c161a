"""Audit of existing state: every admission policy over what exists, plus whole-cluster
checks, from a directory of manifests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import harness_cli

DATA = Path(__file__).resolve().parent / "data" / "audit"


def audit(*args: str) -> subprocess.CompletedProcess:
    return harness_cli("audit", *args, timeout=120)


def test_audit_finds_cluster_admin_binding_outside_the_allowlist():
    result = audit("--from-dir", str(DATA), "--format", "json")
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    denied = {
        (f["resource"], f["control"]): f["messages"] for f in findings if f["decision"] == "deny"
    }
    assert denied[("ClusterRoleBinding/mallory-admin", "CIS-5.1.1")] == [
        "[CIS-5.1.1] ClusterRoleBinding mallory-admin: binds cluster-admin to User mallory, "
        "which is not in the allowlist"
    ]
    # Kubernetes' own binding is allowlisted for both controls.
    assert ("ClusterRoleBinding/cluster-admin", "CIS-5.1.1") not in denied
    assert ("ClusterRoleBinding/cluster-admin", "CIS-5.1.7") not in denied
    assert ("cluster", "CIS-5.2.1") in denied
    assert denied[("cluster", "CIS-5.3.1")] == [
        "[CIS-5.3.1] cluster: network plugin(s) flannel do not enforce NetworkPolicy"
    ]
    assert ("DaemonSet/kube-system/kube-flannel-ds", "CIS-5.2.2") in denied


def test_audit_with_a_webhook_passes_cis_5_2_1(tmp_path):
    webhook = tmp_path / "webhook.yaml"
    webhook.write_text(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n"
        "metadata: {name: opa}\nwebhooks:\n- name: v.opa\n  admissionReviewVersions: [v1]\n"
        "  sideEffects: None\n  clientConfig: {url: 'https://opa.example:8443'}\n"
        "  rules: [{operations: [CREATE], apiGroups: ['*'], apiVersions: ['*'], resources: [pods]}]\n"
    )
    result = audit(
        "--from-dir", str(DATA), str(webhook), "--controls", "CIS-5.2.1", "--format", "json"
    )
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout) == [
        {
            "file": "",
            "resource": "cluster",
            "control": "CIS-5.2.1",
            "decision": "allow",
            "messages": [],
        }
    ]


def test_bad_kubeconfig_is_a_one_line_error(tmp_path):
    bad = tmp_path / "kubeconfig"
    bad.write_text("apiVersion: v1\nkind: Config\n")
    result = audit("--kubeconfig", str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {bad}: cannot use kubeconfig")
    assert result.stderr.count("\n") == 1


def test_check_reviews_rbac_objects():
    result = harness_cli(
        "check", str(DATA), "--controls", "CIS-5.1.1", "--format", "json", timeout=120
    )
    assert result.returncode == 1
    decisions = {f["resource"]: f["decision"] for f in json.loads(result.stdout)}
    assert decisions == {
        "ClusterRoleBinding/cluster-admin": "allow",
        "ClusterRoleBinding/mallory-admin": "deny",
        "DaemonSet/kube-system/kube-flannel-ds": "allow",
    }


def test_a_saved_probe_decides_cis_5_3_1_over_the_plugin_name(tmp_path):
    """netprobe.document() is the shape lib/audit.rego reads: an enforcing probe passes
    a flannel cluster, a probe whose traffic went on fails it."""
    from harness.infra import netprobe

    verdicts = {}
    for name, blocked in (("enforcing", True), ("not-enforcing", False)):
        result = {"reached_before": True, "blocked_after": blocked, "reached_again": True}
        probe = tmp_path / f"{name}.yaml"
        probe.write_text(json.dumps(netprobe.document(result)))
        run = audit("--from-dir", str(DATA), str(probe), "--controls", "CIS-5.3.1",
                    "--format", "json")  # fmt: skip
        verdicts[name] = json.loads(run.stdout)[0]
    assert verdicts["enforcing"]["decision"] == "allow"
    assert verdicts["not-enforcing"]["messages"] == [
        "[CIS-5.3.1] cluster: traffic went on after a deny-all ingress NetworkPolicy: the "
        "network plugin does not enforce NetworkPolicy"
    ]


def test_ready_nodes_counts_only_schedulable_ready_nodes():
    from harness.infra import netprobe

    def node(ready: str, unschedulable: bool = False) -> dict:
        return {"spec": {"unschedulable": unschedulable},
                "status": {"conditions": [{"type": "Ready", "status": ready}]}}  # fmt: skip

    items = [node("True"), node("False"), node("True", unschedulable=True), {}]

    def kubectl(*args: str, what: str, timeout: float = 600) -> str:
        assert args == ("get", "nodes", "-o", "json")
        return json.dumps({"items": items})

    assert netprobe.ready_nodes(kubectl) == 1
