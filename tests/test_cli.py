"""The command line as a user meets it: exit codes, JSON shapes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.model.catalog import load_catalog
from harness.model.fixtures import load_folder
from harness.reporting.results import load_run
from tests.conftest import harness_cli, small_run, wait_for_replay

DATA = Path(__file__).resolve().parent / "data" / "check"


def test_controls_json_lists_the_catalog():
    result = harness_cli("controls", "--framework", "nsa", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 25
    first = rows[0]
    assert first["id"] == "NSA-1.1"
    assert first["thesis"] == {"assessment": "RD", "verdict": "✓"}
    assert first["policy"] == "policies/controls/nsa_1_1"


def test_check_mixed_folder_json():
    result = harness_cli("check", str(DATA / "mixed"), "--format", "json")
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    assert set(findings[0]) == {"file", "resource", "control", "decision", "messages"}
    by = {(f["resource"], f["control"]): f for f in findings}
    assert {f["resource"] for f in findings} == {
        "Deployment/shop/web",
        "Pod/shop/debug",
        "CronJob/default/report",
    }
    assert (
        by[("Deployment/shop/web", "NSA-2.2")]["decision"] == "allow"
    )  # state from the same input
    assert by[("Deployment/shop/web", "NSA-1.4")]["decision"] == "allow"
    assert by[("Pod/shop/debug", "CIS-5.2.2")]["decision"] == "deny"
    assert by[("CronJob/default/report", "CIS-5.6.4")]["decision"] == "deny"
    assert by[("CronJob/default/report", "NSA-1.3")]["messages"] == [
        "[NSA-1.3] CronJob default/report: container report "
        "(spec.jobTemplate.spec.template.spec.containers[0]): image ghcr.io/example/report:1 is from "
        "registry ghcr.io, which is not trusted (trusted: docker.io, registry.k8s.io)"
    ]


def test_check_clean_file_exits_zero_and_controls_filter():
    result = harness_cli(
        "check", str(DATA / "mixed" / "shop.yaml"), "--controls", "NSA-1.1,NSA-2.2,CIS-5.2.2"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 resource(s) x 3 control(s): 3 allowed, 0 denied" in result.stdout


def test_check_table_shows_denials():
    result = harness_cli(
        "check", str(DATA / "mixed" / "debug-pod.yaml"), "--controls", "CIS-5.2.2,CIS-5.2.5"
    )
    assert result.returncode == 1
    assert "Pod/shop/debug" in result.stdout
    assert "2 denied" in result.stdout


def test_check_judges_secrets_as_the_user_given(tmp_path):
    """CIS-5.4.2 reads who writes a Secret: --user for manifests, the recorded username
    for an AdmissionReview."""
    secret = tmp_path / "secret.yaml"
    secret.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\n"
        "stringData: {password: x}\n"
    )
    controller = "system:serviceaccount:external-secrets:external-secrets"
    as_harness = harness_cli("check", str(secret), "--controls", "CIS-5.4.2", "--format", "json")
    assert as_harness.returncode == 1, as_harness.stderr
    (finding,) = json.loads(as_harness.stdout)
    assert finding["messages"] == [
        "[CIS-5.4.2] Secret shop/db: written by pac-harness, not by an external-secrets "
        "controller listed in secret_writers (Secret values must come from the external manager)"
    ]
    as_controller = harness_cli(
        "check", str(secret), "--controls", "CIS-5.4.2", "--user", controller
    )
    assert as_controller.returncode == 0, as_controller.stdout + as_controller.stderr
    review = tmp_path / "review.json"
    review.write_text(
        json.dumps(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {
                    "operation": "CREATE",
                    "userInfo": {"username": "jane"},
                    "object": {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": "db", "namespace": "shop"},
                    },
                },
            }
        )
    )
    recorded = harness_cli(
        "check", str(review), "--controls", "CIS-5.4.2", "--user", controller, "--format", "json"
    )
    assert "written by jane" in json.loads(recorded.stdout)[0]["messages"][0]


def test_config_extends_trusted_registries(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("trusted_registries: [quay.io]\n")
    result = harness_cli(
        "check",
        str(DATA / "mixed" / "debug-pod.yaml"),
        "--controls",
        "NSA-1.3",
        "--config",
        str(config),
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["check", str(DATA / "bad" / "malformed.yaml")], "malformed.yaml: malformed YAML"),
        (
            ["check", str(DATA / "bad" / "unknown-kind.yaml")],
            "unknown-kind.yaml: document 1: unknown kind Pood (v1)",
        ),
        (["check", str(DATA / "mixed"), "--controls", "NSA-9.9"], "unknown control id 'NSA-9.9'"),
        (["check", "no/such/path.yaml"], "no/such/path.yaml: no such file or directory"),
        (["run", "--controls", "NSA-4.3"], "no selected control has a policy"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, expected):
    result = harness_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0]


def test_invalid_rego_names_the_file(tmp_path):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(Path("policies"), home / "policies")
    shutil.copytree(Path("scenarios"), home / "scenarios")
    broken = home / "policies" / "controls" / "nsa_1_2" / "policy.rego"
    broken.write_text(broken.read_text().replace("k8s.pod_write", "k8s.pod_write :="))
    env = dict(os.environ, PAC_HARNESS_HOME=str(home))
    result = harness_cli("check", str(DATA / "mixed" / "debug-pod.yaml"), env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "nsa_1_2/policy.rego: invalid Rego: line" in result.stderr


def test_small_run_writes_a_complete_run_folder(tmp_path):
    out = tmp_path / "run"
    code = small_run(out, "NSA-1.1,CIS-5.2.5,NSA-2.2")
    assert code == 0
    run = load_run(out)
    assert run.meta["complete"] is True
    assert run.meta["engine"] == "regopy (rego-cpp)"
    assert {"sha", "dirty"} <= set(run.meta["commit"])
    records = run.records
    assert set(records.columns) >= {
        "control",
        "fixture",
        "expected",
        "decision",
        "correct",
        "latency_ns",
        "target",
        "engine",
    }
    policy = records[records["mode"] == "policy"]
    assert policy["correct"].all()
    catalog = load_catalog()
    fixtures = sum(
        len(load_folder(catalog.get(c).fixtures)) for c in ("NSA-1.1", "CIS-5.2.5", "NSA-2.2")
    )
    assert len(policy) == 3 * fixtures  # --iterations 3, every fixture of the three controls
    coverage = json.loads((out / "coverage.json").read_text())
    status = {c["id"]: c["status"] for c in coverage["controls"]}
    assert status["NSA-1.1"] == "enforced" and status["NSA-1.2"] == "not-run"
    for name in (
        "tables/table-6.1-nsa.md",
        "tables/table-6.2-cis.tex",
        "figures/figure-6.30-per-policy.png",
        "figures/figure-6.29-combined.pdf",
    ):
        assert (out / name).is_file(), name


def test_report_regenerates_from_records(tmp_path):
    out = tmp_path / "run"
    assert small_run(out, "CIS-5.2.3", combined=0, iterations=2) == 0
    table = out / "tables" / "table-6.2-cis.md"
    before = table.read_text()
    table.unlink()
    (out / "figures").rename(tmp_path / "old-figures")
    assert main(["report", str(out)]) == 0
    assert table.read_text() == before
    assert (out / "figures" / "figure-6.30-per-policy.png").is_file()
    assert "| CIS-5.2.3 |" in before and "not run" in before


def test_run_refuses_to_overwrite(tmp_path):
    (tmp_path / "x").write_text("")
    result = harness_cli("run", "--out", str(tmp_path), "--iterations", "1")
    assert result.returncode == 2
    assert "run folder exists and is not empty" in result.stderr


def test_ctrl_c_keeps_partial_results(tmp_path, spawn):
    out = tmp_path / "run"
    proc = spawn(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--iterations",
            "100000",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    wait_for_replay(proc)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    run = load_run(out)
    assert run.meta["complete"] is False and run.meta["error"] == "interrupted"
    assert len(run.records) > 0
    assert isinstance(run.records, pd.DataFrame)
    assert (out / "coverage.json").is_file()


def test_check_says_not_applicable_on_windows():
    """Controls whose fields the API refuses on Windows pods (catalog not_on_windows)
    admit a Windows pod and say they had nothing to check; the others still decide."""
    pod = Path("scenarios/fixtures/NSA-1.2/allow/windows-pod.yaml")
    na = [c.id for c in load_catalog().controls if c.not_on_windows]
    assert {"NSA-1.2", "NSA-1.6", "CIS-5.2.6", "CIS-5.2.10", "CIS-5.6.2"} <= set(na)
    result = harness_cli(
        "check", str(pod), "--controls", ",".join([*na, "NSA-1.1"]), "--format", "json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    decisions = {f["control"]: f["decision"] for f in json.loads(result.stdout)}
    assert decisions == {**dict.fromkeys(na, "not-applicable"), "NSA-1.1": "allow"}
    table = harness_cli("check", str(pod), "--controls", "NSA-1.2,NSA-1.1")
    assert "1 allowed, 0 denied, 1 not applicable" in table.stdout
