"""Node configuration: the collector, the node-check gate and its systemd unit, on node
trees materialized from the fixture data (ownership needs root: CI runs as root)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.model import nodetree
from harness.model.node import collect, parse_flags
from harness.model.nodetree import materialize
from harness.reporting.results import load_run
from tests.conftest import harness_cli, small_run

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 and not os.environ.get("CI"), reason="node trees set file owners (root only)"
)


def node_check(*args: str) -> subprocess.CompletedProcess:
    return harness_cli("node-check", *args, timeout=120)


@pytest.mark.parametrize(
    ("argv", "flags", "values"),
    [
        (["--a=1"], {"a": "1"}, {"a": ["1"]}),
        (["--a", "1"], {"a": "1"}, {"a": ["1"]}),
        (["--verbose"], {"verbose": "true"}, {"verbose": ["true"]}),
        (["--m=Node,RBAC"], {"m": "Node,RBAC"}, {"m": ["Node", "RBAC"]}),
        (["--a=1", "--a=2"], {"a": "2"}, {"a": ["1", "2"]}),
        (["--b", "--c=x"], {"b": "true", "c": "x"}, {"b": ["true"], "c": ["x"]}),
        (["--e="], {"e": ""}, {"e": []}),
    ],
)
def test_parse_flags(argv, flags, values):
    assert parse_flags(argv) == (flags, values)


def test_missing_files_are_facts(tmp_path):
    snap = collect(tmp_path)
    assert snap["static_pods"]["kube-apiserver"] == {
        "path": "etc/kubernetes/manifests/kube-apiserver.yaml",
        "present": False,
        "flags": {},
        "flag_values": {},
    }
    assert snap["kubelet_config"]["present"] is False
    assert snap["kubeconfigs"] == []


def test_client_certificates_are_read_as_client_go_reads_a_kubeconfig(tmp_path):
    """Inline data wins over a file; a relative file is relative to the kubeconfig; users
    without a certificate are skipped; what cannot be read is a fact, not a crash."""
    corpus = nodetree.certificate_corpus()
    masters, admin = corpus["kubernetes-super-admin"], corpus["kubernetes-admin"]
    pki = tmp_path / "etc/kubernetes/pki"
    pki.mkdir(parents=True)
    (pki / "masters.crt").write_text(masters)
    users = [
        {"name": "inline", "user": {"client-certificate-data": b64(admin),
                                     "client-certificate": "pki/masters.crt"}},
        {"name": "relative", "user": {"client-certificate": "pki/masters.crt"}},
        {"name": "absolute", "user": {"client-certificate": "/etc/kubernetes/pki/masters.crt"}},
        {"name": "token", "user": {"token": "secret"}},
        {"name": "missing", "user": {"client-certificate": "pki/none.crt"}},
        {"name": "not-base64", "user": {"client-certificate-data": "%%%"}},
    ]  # fmt: skip
    (tmp_path / "etc/kubernetes/x.conf").write_text(json.dumps({"users": users}))
    (tmp_path / "etc/kubernetes/broken.conf").write_text("users: [unclosed\n")
    configs = {k["path"]: k for k in collect(tmp_path)["kubeconfigs"]}
    found = {
        u["name"]: u.get("organizations", u.get("error"))
        for u in configs["etc/kubernetes/x.conf"]["users"]
    }
    assert found["inline"] == ["kubeadm:cluster-admins"]
    assert found["relative"] == found["absolute"] == ["system:masters"]
    assert "token" not in found
    assert "No such file" in found["missing"] and found["not-base64"]
    assert configs["etc/kubernetes/broken.conf"]["config_error"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_unreadable_manifest_is_a_fact(tmp_path):
    path = tmp_path / "etc/kubernetes/manifests/etcd.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("spec: [unclosed\n")
    entry = collect(tmp_path)["static_pods"]["etcd"]
    assert entry["present"] is True and entry["error"]


@needs_root
def test_collector_reads_a_kubeadm_like_tree(tmp_path):
    materialize(
        {
            "base": "hardened",
            "files": {"home/alice/.kube/config": {"mode": "0640", "owner": "bob"}},
        },
        tmp_path,
    )
    snap = collect(tmp_path)
    api = snap["static_pods"]["kube-apiserver"]
    assert api["flags"]["anonymous-auth"] == "false"
    assert api["flag_values"]["authorization-mode"] == ["Node", "RBAC"]
    configs = {k["path"]: k for k in snap["kubeconfigs"]}
    assert set(configs) >= {"etc/kubernetes/admin.conf", "home/alice/.kube/config"}
    alice = configs["home/alice/.kube/config"]
    assert (alice["uid"], alice["expected_uid"], alice["mode"]) == (1001, 1000, "0640")
    assert snap["kubelet_config"]["config"]["authentication"]["anonymous"]["enabled"] is False


@needs_root
def test_node_check_passes_a_hardened_node(tmp_path):
    materialize({"base": "hardened"}, tmp_path)
    result = node_check("--root", str(tmp_path), "--format", "json")
    assert result.returncode == 0, result.stdout
    findings = json.loads(result.stdout)
    assert {f["control"] for f in findings} == {
        "NSA-2.4",
        "NSA-2.7",
        "NSA-3.1",
        "NSA-3.2",
        "NSA-4.1.1",
        "NSA-4.1.7",
        "CIS-5.1.7",
        "CIS-5.4.2",
        "CIS-5.5.1",
    }
    assert all(f["decision"] == "allow" for f in findings)


@needs_root
def test_node_check_fails_a_kubeadm_default_node(tmp_path):
    materialize(
        {"base": "kubeadm", "files": {"home/alice/.kube/config": {"mode": "0644"}}}, tmp_path
    )
    result = node_check("--root", str(tmp_path))
    assert result.returncode == 1
    # On kubeadm (v1.29 on) only NSA-3.2 (RBAC) and CIS-5.1.7 (admin.conf is no longer
    # in system:masters) hold.
    assert "2 passed, 7 failed" in result.stdout
    assert "--anonymous-auth must be false (is unset)" in result.stdout
    assert "home/alice/.kube/config: mode 0644" in result.stdout


def test_node_check_on_an_empty_root_fails_every_control_that_reads_a_manifest(tmp_path):
    """Except CIS-5.1.7: where no kubeconfig exists, none holds a system:masters
    certificate."""
    result = node_check("--root", str(tmp_path), "--format", "json")
    assert result.returncode == 1
    findings = {f["control"]: f for f in json.loads(result.stdout)}
    assert findings.pop("CIS-5.1.7")["decision"] == "allow"
    for finding in findings.values():
        assert any("manifest missing or unreadable" in m for m in finding["messages"])


def test_node_check_bad_root_is_one_line_error(tmp_path):
    result = node_check("--root", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'}: not a directory"


def test_install_unit_gates_kubelet(tmp_path):
    result = node_check("--install-unit")
    assert result.returncode == 0
    unit = result.stdout
    assert "Before=kubelet.service" in unit and "RequiredBy=kubelet.service" in unit
    assert "Type=oneshot" in unit and "-m harness node-check --root /" in unit
    target = tmp_path / "units" / "pac-harness-node-check.service"
    written = node_check("--install-unit", "--write", str(target))
    assert written.returncode == 0 and target.read_text() == unit


@needs_root
def test_run_counts_node_controls_and_times_the_process(tmp_path):
    out = tmp_path / "run"
    code = small_run(out, "NSA-3.1,NSA-2.4")
    assert code == 0
    coverage = json.loads((out / "coverage.json").read_text())
    status = {c["id"]: c["status"] for c in coverage["controls"]}
    assert status["NSA-3.1"] == "enforced" and status["NSA-2.4"] == "partial"
    assert status["NSA-2.5"] == "not-enforceable"
    run = load_run(out)
    assert [r["exit_code"] for r in run.extras["node_check_process"]] == [0, 0]
    assert set(run.combined_records["control"].astype(str)) == {"ALL-NODE"}
    assert (out / "figures" / "figure-6.28-node.png").is_file()
    assert Path(out / "latency.csv").read_text().count("node-check process") == 1
