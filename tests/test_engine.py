"""The container engine for the kind target: privileged containers start on it (CI
provisions it with .ci/container-engine/setup), the runtime wrapper drops exactly the
capabilities outside the bounding set, and a failing engine is diagnosed in one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from harness.errors import TargetError
from harness.infra import engine, kind
from tests.conftest import ROOT, require_tool

WRAPPER = ROOT / ".ci" / "container-engine" / "pac-harness-runc"


def bounding_set() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1], 16) for line in status if line.startswith("CapBnd:"))


def test_wrapper_drops_only_capabilities_outside_the_bounding_set(tmp_path):
    spec = {"process": {"capabilities": {"bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE"]}}}
    (tmp_path / "config.json").write_text(json.dumps(spec))
    env = {**os.environ, "PAC_HARNESS_REAL_RUNC": shutil.which("true")}
    args = [str(WRAPPER), "--root", "/run/x", "create", "--bundle", str(tmp_path), "id"]
    subprocess.run(args, check=True, env=env, timeout=30)
    kept = json.loads((tmp_path / "config.json").read_text())["process"]["capabilities"]
    has_sys_resource = bool(bounding_set() >> 24 & 1)  # CAP_SYS_RESOURCE is bit 24
    assert kept["bounding"] == ["CAP_CHOWN", *(["CAP_SYS_RESOURCE"] if has_sys_resource else [])]


def test_wrapper_trims_the_process_spec_of_an_exec(tmp_path):
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"capabilities": {"effective": ["CAP_KILL", "CAP_NOT_A_CAP"]}}))
    env = {**os.environ, "PAC_HARNESS_REAL_RUNC": shutil.which("true")}
    subprocess.run([str(WRAPPER), "exec", "--process", str(process), "id"], check=True, env=env)
    assert json.loads(process.read_text())["capabilities"]["effective"] == ["CAP_KILL"]


def test_privileged_containers_start_on_the_engine():
    require_tool("opa")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        message = "no container engine answers (.ci/container-engine/setup starts one)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    assert engine.privileged_problem("docker") is None


def test_a_failing_privileged_container_is_diagnosed_in_one_line(tmp_path, monkeypatch):
    directory = tmp_path / "bin"
    directory.mkdir()
    for name, body in {
        "kubectl": "exit 0",
        "docker": 'case "$1" in info|image) exit 0;; run) echo "runc create failed: '
        'unable to apply caps: operation not permitted: unknown" >&2; exit 125;; esac',
    }.items():
        script = directory / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", str(directory))
    monkeypatch.delenv("KIND_EXPERIMENTAL_PROVIDER", raising=False)
    monkeypatch.setattr(kind, "kind_binary", lambda: str(directory / "kind"))
    monkeypatch.setattr(engine.tools, "require", lambda name: tmp_path)
    with pytest.raises(TargetError) as info:
        kind.check_prerequisites()
    message = str(info.value)
    assert "\n" not in message
    assert "privileged containers fail on the docker engine" in message
    assert "unable to apply caps" in message and "pac-harness-runc" in message
