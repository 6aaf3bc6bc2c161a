"""A run folder on disk: run.json (metadata), records.parquet (one row per iteration),
decisions.json (first decision and messages per control and fixture). Everything else
in the folder (coverage.json, tables/, figures/) is regenerated from these by report."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from harness import __version__, paths
from harness.errors import HarnessError
from harness.replay import Recorder

RUN_FILE = "run.json"
RECORDS_FILE = "records.parquet"
DECISIONS_FILE = "decisions.json"
SCHEMA_VERSION = 1


@dataclass
class Run:
    directory: Path
    meta: dict[str, Any]
    records: pd.DataFrame
    decisions: list[dict[str, Any]]
    extras: dict[str, Any]

    @property
    def policy_records(self) -> pd.DataFrame:
        return self.records[self.records["mode"] == "policy"]

    @property
    def combined_records(self) -> pd.DataFrame:
        return self.records[self.records["mode"] == "combined"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_dir(base: Path | None = None) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return (base or paths.default_runs_dir()) / stamp


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpus": os.cpu_count(),
        "hostname": platform.node(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def commit() -> dict[str, Any]:
    """The harness's git commit, and whether the work tree had uncommitted changes."""
    root = paths.project_root()
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                # Tracked files only: earlier runs' untracked result folders are not code.
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": dirty}


def base_metadata(target: str, engine: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "harness_version": __version__,
        "target": target,
        **engine,
        "commit": commit(),
        "machine": machine(),
        "started": now(),
        **extra,
    }


EXTRA_FILES = ("opa_bench", "node_check_process", "baseline", "psa_agreement")


def write_run(
    directory: Path, meta: dict[str, Any], recorder: Recorder, extras: dict[str, Any] | None = None
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in (extras or {}).items():
        (directory / f"{name}.json").write_text(json.dumps(value, indent=1) + "\n")
    frame = records_frame(recorder, meta)
    frame.to_parquet(directory / RECORDS_FILE, index=False)
    (directory / DECISIONS_FILE).write_text(json.dumps(recorder.decisions, indent=1) + "\n")
    (directory / RUN_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def records_frame(recorder: Recorder, meta: dict[str, Any]) -> pd.DataFrame:
    # Ctrl-C can land between two column appends of one row: that row is dropped.
    rows = min(len(v) for v in recorder.columns.values())
    cols = {name: values[:rows] for name, values in recorder.columns.items()}
    frame = pd.DataFrame(
        {
            "mode": pd.Categorical(cols["mode"]),
            "control": pd.Categorical(cols["control"]),
            "fixture": pd.Categorical(cols["fixture"]),
            "iteration": pd.array(cols["iteration"], dtype="int32"),
            "expected": pd.Categorical(cols["expected"]),
            "decision": pd.Categorical(cols["decision"]),
            "correct": pd.array(cols["correct"], dtype="boolean"),
            "latency_ns": pd.array(cols["latency_ns"], dtype="int64"),
            "engine_ns": pd.array(cols["engine_ns"], dtype="Int64"),
        }
    )
    frame["target"] = pd.Categorical([meta.get("target")] * len(frame))
    frame["engine"] = pd.Categorical([meta.get("engine")] * len(frame))
    return frame


def load_run(directory: Path) -> Run:
    directory = Path(directory)
    run_file = directory / RUN_FILE
    if not run_file.is_file():
        raise HarnessError(f"{directory}: not a run folder (no {RUN_FILE})")
    try:
        meta = json.loads(run_file.read_text())
        records = pd.read_parquet(directory / RECORDS_FILE)
        decisions = json.loads((directory / DECISIONS_FILE).read_text())
        extras = {
            name: json.loads((directory / f"{name}.json").read_text())
            for name in EXTRA_FILES
            if (directory / f"{name}.json").is_file()
        }
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{directory}: unreadable run folder: {exc}") from None
    return Run(directory, meta, records, decisions, extras)
