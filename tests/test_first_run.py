"""What a new user meets first: progress in a log, a run folder that survives a kill,
one-line errors for every wrong input, selections that explain themselves, a config
that is checked, output that pipes whole, and a workload that passes every control."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.model.catalog import load_catalog
from harness.reporting.coverage import compute_coverage
from harness.reporting.results import PARTIAL_DIR, RUN_FILE
from tests.conftest import harness_cli, small_run

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "compliant"


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_progress_lines_when_output_goes_to_a_log(tmp_path):
    result = harness_cli(
        "run", "--controls", "NSA-1.1", "--iterations", "20", "--combined-iterations", "0",
        "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("replay: ")]
    assert progress, result.stderr
    assert "/s" in progress[-1] and "left" in progress[-1] and "(100.0 %)" in progress[-1]
    assert "\x1b[" not in result.stderr  # no terminal control codes in a log


def test_killed_run_keeps_a_folder_that_report_turns_into_tables(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--iterations", "2000", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while not list((out / PARTIAL_DIR).glob("*.parquet")):
            assert proc.poll() is None, "the run ended before writing a chunk"
            assert time.monotonic() < deadline, "no chunk written in 180 s"
            time.sleep(0.5)
        meta = json.loads((out / RUN_FILE).read_text())
        assert meta["complete"] is False  # marked from the start
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    result = harness_cli("report", str(out))
    assert result.returncode == 0, result.stderr
    coverage = json.loads((out / "coverage.json").read_text())
    statuses = {c["id"]: c["status"] for c in coverage["controls"]}
    assert "failing" not in statuses.values()
    assert "incomplete" in statuses.values() or "enforced" in statuses.values()
    assert (out / "tables" / "table-6.1-nsa.md").is_file()


def test_a_control_cut_short_is_incomplete_not_failing():
    catalog = load_catalog()
    records = pd.DataFrame(
        {
            "mode": ["policy"] * 2,
            "control": ["NSA-1.1"] * 2,
            "fixture": ["non-root/allow/a", "non-root/allow/b"],
            "expected": ["allow"] * 2,
            "correct": [True, True],
        }
    )
    finished = {c.id: c.status for c in compute_coverage(catalog, records).controls}
    cut = {c.id: c.status for c in compute_coverage(catalog, records, {"NSA-1.1": 12}).controls}
    assert finished["NSA-1.1"] == "failing"  # a finished run without deny fixtures
    assert cut["NSA-1.1"] == "incomplete"


def test_a_control_decided_at_two_points_needs_both_exercised():
    """CIS-5.1.7 is decided at admission and on the node: a target that runs only the
    admission fixtures (the kube targets run no node fixture) has no verdict on it."""
    catalog = load_catalog()

    def status(points: list[str], expected: list[str]) -> str:
        records = pd.DataFrame(
            {
                "mode": ["policy"] * len(points),
                "control": ["CIS-5.1.7"] * len(points),
                "fixture": [f"CIS-5.1.7/{e}/{i}" for i, e in enumerate(expected)],
                "point": points,
                "expected": expected,
                "correct": [True] * len(points),
            }
        )
        (row,) = [c for c in compute_coverage(catalog, records).controls if c.id == "CIS-5.1.7"]
        return row.status

    assert status(["admission"] * 2, ["allow", "deny"]) == "incomplete"
    assert status(["admission", "admission", "node"], ["allow", "deny", "deny"]) == "failing"
    assert status(["admission", "admission", "node", "node"], ["allow", "deny"] * 2) == "enforced"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["node-check", "--controls", "NSA-1.1"], "use `python -m harness check`"),
        (["check", str(EXAMPLES), "--controls", "NSA-2.4"], "use `python -m harness node-check`"),
        (["check", str(EXAMPLES), "--controls", "NSA-1.7"], "did you mean"),
        (["check", str(EXAMPLES), "--controls", "NSA-4.1.2"], "has no policy"),
        (["run", "--controls", "CIS-9.9"], "unknown control id"),
    ],
)
def test_a_control_the_command_does_not_handle_is_one_line(args, says):
    assert says in one_line_error(harness_cli(*args, timeout=120))


def test_unreachable_cluster_is_one_line(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    line = one_line_error(harness_cli("audit", "--kubeconfig", str(kubeconfig), timeout=120))
    assert "does not answer" in line


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("trusted_registries: quay.io\n", "trusted_registries: must be a list of strings"),
        ("image_scanner: {timeout: soon}\n", "timeout must be a duration"),
        ("rbac_allowlist: {bindings: ['x']}\n", "bindings is no longer read"),
        ("exemptions: {NSA-9.1: [a]}\n", "unknown control id"),
        ("registries: [a]\n", "unknown config key(s) registries"),
    ],
)
def test_config_values_are_type_checked(tmp_path, config, says):
    path = tmp_path / "config.yaml"
    path.write_text(config)
    line = one_line_error(harness_cli("check", str(EXAMPLES), "--config", str(path)))
    assert str(path) in line and says in line


def test_control_ids_in_any_case(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("exemptions: {nsa-2.1: [default]}\n")
    pod = tmp_path / "pod.yaml"
    pod.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
        "spec: {containers: [{name: a, image: nginx}]}\n"
    )
    args = ["check", str(pod), "--controls", "nsa-2.1", "--format", "json"]
    assert json.loads(harness_cli(*args).stdout)[0]["decision"] == "deny"
    exempted = harness_cli(*args, "--config", str(config))
    assert json.loads(exempted.stdout)[0]["decision"] == "allow"


@pytest.mark.parametrize("content", ["", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"])
def test_nothing_to_check_says_why(tmp_path, content):
    path = tmp_path / "input.yaml"
    path.write_text(content)
    result = harness_cli("check", str(path))
    assert result.returncode == 0
    assert "nothing to check" in result.stderr
    assert ("only Service" if content else "no Kubernetes objects") in result.stderr


def test_piped_output_is_neither_wrapped_nor_cut():
    result = harness_cli("controls")
    assert "…" not in result.stdout
    assert "Non-root containers and rootless container engines" in result.stdout


def test_compare_names_columns_by_run(tmp_path):
    for name in ("a", "b"):
        assert small_run(tmp_path / name, "NSA-1.1", combined=0, iterations=2) == 0
    result = harness_cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "csv")
    header = result.stdout.splitlines()[0].split(",")
    assert len(header) == len(set(header)) == 5, header
    assert not any(h.endswith(("_x", "_y")) for h in header)


def test_the_compliant_example_passes_every_admission_control():
    result = harness_cli("check", str(EXAMPLES), "--format", "json")
    assert result.returncode == 0, result.stdout
    findings = json.loads(result.stdout)
    admission = {c.id for c in load_catalog().with_policy if "admission" in c.points}
    workload = [f for f in findings if f["resource"] == "Deployment/shop/web"]
    assert {f["control"] for f in workload} == admission
    assert all(f["decision"] == "allow" for f in findings)


def test_a_closed_pipe_is_no_traceback():
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "controls", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 141)
    assert "Traceback" not in stderr
