"""The node-configuration gate: evaluate every NC policy over a node's snapshot, and the
systemd unit that makes kubelet wait for it (thesis figure 6.1, done with Rego)."""

from __future__ import annotations

import compileall
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness import paths
from harness.model.catalog import Control
from harness.model.node import collect
from harness.model.nodetree import materialize
from harness.model.policies import load_modules, policy_set
from harness.targets.wasm import WasmTarget

UNIT_NAME = "pac-harness-node-check.service"
DEFAULT_UNIT_PATH = Path("/etc/systemd/system") / UNIT_NAME


@dataclass(frozen=True)
class NodeFinding:
    control: str
    decision: str
    messages: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_node(root: Path, controls: list[Control], config: dict[str, Any]) -> list[NodeFinding]:
    controls = [c for c in controls if "node" in c.points]
    snapshot = collect(root)
    queries = [c.entrypoint_at("node") for c in controls]
    # Compile only what node policies can reach: a cold start before kubelet is timed.
    roots = {"lib"} | {q.split("/")[0] for q in queries}
    modules = [
        m for m in load_modules() if m.path.relative_to(paths.policies_dir()).parts[0] in roots
    ]
    policy = policy_set(queries, config=config, modules=modules)
    findings = []
    with WasmTarget() as target:
        target.start(policy)
        for control, query in zip(controls, queries, strict=True):
            decision = target.decide(target.prepare(snapshot, query))
            findings.append(NodeFinding(control.id, decision.verdict, list(decision.messages)))
    return findings


def systemd_unit(python: str | None = None, root: str = "/") -> str:
    """A oneshot unit kubelet requires and starts after: kubelet runs only if it passes."""
    python = python or sys.executable
    return f"""[Unit]
Description=pac-harness node configuration gate (NSA/CISA and CIS controls)
Documentation=https://github.com/ (see the pac-harness README)
Before=kubelet.service
After=local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={python} -m harness node-check --root {root}

[Install]
RequiredBy=kubelet.service
"""


def time_process(spec: dict[str, Any], runs: int) -> list[dict[str, Any]]:
    """Cold cost of the gate: whole `node-check` processes (interpreter start, imports,
    collection, compilation, evaluation) on one materialized tree, as kubelet waits for it.
    The package's bytecode is compiled first, as `pip install` leaves it on a node: an
    editable checkout under PYTHONDONTWRITEBYTECODE would otherwise compile every module
    from source in every process (about 40 ms here) and time that instead."""
    compileall.compile_dir(Path(__file__).resolve().parents[1], quiet=1)
    root = Path(tempfile.mkdtemp(prefix="pac-harness-node-timing-"))
    rows = []
    try:
        materialize(spec, root)
        cmd = [
            sys.executable,
            "-m",
            "harness",
            "node-check",
            "--root",
            str(root),
            "--format",
            "json",
        ]
        for i in range(runs):
            start = time.perf_counter_ns()
            result = subprocess.run(cmd, capture_output=True, text=True)
            elapsed = time.perf_counter_ns() - start
            rows.append({"iteration": i, "latency_ns": elapsed, "exit_code": result.returncode})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows
