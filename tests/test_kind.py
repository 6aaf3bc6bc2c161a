"""The kind target end to end, on the images built here (no registry): a run creates the
cluster, installs the CNI and proves it enforces NetworkPolicy, installs OPA and the
replicator, replays through the webhook and deletes the cluster; a failed run and an
interrupted run leave no cluster and no node container behind.

Needs a container engine that starts privileged containers and the kind images
(`python -m harness tools install kind-images`): skipped locally without them, a
failure in CI, which builds them in .ci/run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.infra import kind
from tests.conftest import ROOT, wait_for_replay

# Controls that exercise replicated cluster state (NetworkPolicies, namespaces, Istio's
# PeerAuthentications, RBAC objects) and pod admission; their statuses must equal the
# local target's.
CONTROLS = "NSA-1.4,NSA-2.2,NSA-2.6,CIS-5.1.1,CIS-5.2.13,CIS-5.3.2"
# A name of the tests' own: a user's pac-harness cluster is never touched, and a test
# cluster left by an interrupted session (a killed CI job) is removed before the tests.
CLUSTER = "pac-harness-test"


@pytest.fixture(scope="module")
def kind_ready() -> str:
    from harness.infra import kindimages

    try:
        binary = kind.check_prerequisites()
        image = kindimages.require_node_image()
    except HarnessError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI must provision it in .ci/run)")
        pytest.skip(str(exc))
    stale = kind.KindCluster(binary, image, "kube-router", CLUSTER)
    if stale.exists():
        stale.delete()
    stale.cleanup()
    return image


def leftovers() -> dict[str, list[str]]:
    """Clusters and node containers of ours that still exist."""
    clusters = kind.run([kind.kind_binary(), "get", "clusters"], "kind get clusters").split()
    containers = kind.run(
        ["docker", "ps", "-a", "--filter", f"label=io.x-k8s.kind.cluster={CLUSTER}",
         "--format", "{{.Names}}"],
        "docker ps",
    ).split()  # fmt: skip
    return {"clusters": [c for c in clusters if c == CLUSTER], "containers": containers}


def run_args(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "harness", "run", "--target", "kind", "--controls", CONTROLS,
        "--iterations", "3", "--combined-iterations", "1", "--warmup", "0",
        "--node-check-runs", "0", "--cluster-name", CLUSTER, "--out", str(out), *extra,
    ]  # fmt: skip


def test_a_kind_run_decides_as_the_local_target_and_leaves_nothing(kind_ready, tmp_path):
    out = tmp_path / "kind"
    result = subprocess.run(run_args(out, "--no-dry-run"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert leftovers() == {"clusters": [], "containers": []}

    meta = json.loads((out / "run.json").read_text())
    assert meta["complete"] and meta["target"] == "kind"
    assert meta["node_image"] == kind_ready
    assert meta["cni"] in ("calico", "kube-router") and meta["cni_reason"]
    probe = meta["network_policy_probe"]  # reached, blocked by deny-all, reached again
    assert probe["reached_before"] and probe["blocked_after"] and probe["reached_again"], probe
    assert meta["images"]["replicator"].startswith("pac-harness.local/replicator:")

    def statuses(run: Path) -> dict[str, str]:
        coverage = json.loads((run / "coverage.json").read_text())
        wanted = set(CONTROLS.split(","))
        return {c["id"]: c["status"] for c in coverage["controls"] if c["id"] in wanted}

    local = statuses(ROOT / "results" / "reference" / "local")
    assert statuses(out) == local


def test_a_failed_kind_run_deletes_its_cluster(kind_ready, tmp_path, monkeypatch):
    """Calico asked for without a pinned manifest fails after the cluster exists."""
    env = {k: v for k, v in os.environ.items() if k != "PAC_HARNESS_CALICO_SHA256"}
    result = subprocess.run(
        run_args(tmp_path / "failed", "--cni", "calico"), capture_output=True, text=True, env=env
    )
    assert result.returncode != 0
    assert "no sha256 is pinned" in result.stderr
    assert leftovers() == {"clusters": [], "containers": []}


def test_ctrl_c_during_a_kind_run_deletes_its_cluster(kind_ready, tmp_path, spawn):
    proc = spawn(run_args(tmp_path / "interrupted", "--iterations", "1000"))
    wait_for_replay(proc)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=600)
    assert proc.returncode != 0
    assert leftovers() == {"clusters": [], "containers": []}


def test_audit_probes_network_policy_on_a_live_kind_cluster(kind_ready, tmp_path):
    """CIS-5.3.1 from evidence: `harness audit --kubeconfig` runs the probe on a kind
    cluster with kube-router and passes it, though kube-router's name alone would too;
    so the deny-all probe is also checked to have been measured, and cleaned up."""
    cluster = kind.KindCluster(kind.check_prerequisites(), kind_ready, "kube-router", CLUSTER)
    try:
        cluster.create()
        cluster.install_cni()
        result = subprocess.run(
            [sys.executable, "-m", "harness", "audit", "--kubeconfig", str(cluster.kubeconfig),
             "--context", cluster.context, "--controls", "CIS-5.3.1", "--format", "json"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)[0]["decision"] == "allow"
        assert "probing NetworkPolicy enforcement" in result.stderr
        assert "no network-policy probe" not in result.stderr
        namespaces = cluster.kubectl("get", "namespaces", "-o", "name", what="namespaces")
        probes = [n for n in namespaces.split() if "netprobe" in n]
        phases = [cluster.kubectl("get", n, "-o", "jsonpath={.status.phase}", what="phase")
                  for n in probes]  # fmt: skip
        assert all(p == "Terminating" for p in phases), phases
    finally:
        cluster.delete()
        cluster.cleanup()
    assert leftovers() == {"clusters": [], "containers": []}


def test_a_frozen_node_cgroup_is_thawed_before_the_second_delete(tmp_path, monkeypatch):
    """A kill that lands while a node's runc has a cgroup frozen leaves `runc init` in the
    freezer; the engine then cannot remove the node. Thawing lets the delete finish."""
    from harness.infra import kind

    frozen = tmp_path / "node-id" / "kubelet.slice" / "pod.scope"
    frozen.mkdir(parents=True)
    (frozen / "freezer.state").write_text("FROZEN\n")
    (tmp_path / "node-id" / "freezer.state").write_text("THAWED\n")
    monkeypatch.setattr(kind, "run", lambda cmd, what, timeout=0: "node-id\n")
    assert kind.thaw_frozen("c", tmp_path) == 1
    assert (frozen / "freezer.state").read_text() == "THAWED"
