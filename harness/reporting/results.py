"""A run folder on disk: run.json (metadata), records.parquet (one row per timed decision,
in every mode the replay measured: the policies, the combined queries, a baseline,
mechanisms side by side, Pod Security Admission), decisions.json (first decision and
messages per mode, mechanism, control and fixture), and tables an engine measured itself
(opa_bench.json). Everything else in the folder (coverage.json, tables/, figures/) is
regenerated from these by report."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness import __version__, paths
from harness.errors import HarnessError
from harness.model.modes import (
    BASELINE_MODE,
    COMBINED_MODE,
    MECHANISMS_MODE,
    NONE,
    POLICY,
    POLICY_MODE,
    PSA,
    PSA_MODE,
    VAP,
    WEBHOOK,
)

if TYPE_CHECKING:  # type hints only: results sit below the targets
    from harness.model.fixtures import Fixture
    from harness.targets.base import Decision


RUN_FILE = "run.json"
RECORDS_FILE = "records.parquet"
DECISIONS_FILE = "decisions.json"
# While a run is under way its records are written in chunks here; the finished run
# joins them into RECORDS_FILE. A killed run leaves them, and load_run reads them.
PARTIAL_DIR = "records.partial"
# 2: a mechanism column, and the series as modes of records.parquet (1 kept them in
# baseline.json, mechanisms.parquet and psa_agreement.json; load_run reads both).
SCHEMA_VERSION = 2
# A checkpoint writes a chunk once this many rows or seconds have gathered.
CHUNK_ROWS = 20_000
CHUNK_SECONDS = 10.0
IN_PROGRESS = "in progress, or killed before it finished"


@dataclass
class Recorder:
    """Column-wise per-iteration records plus one decision summary per (control, fixture)."""

    columns: dict[str, list[Any]] = field(
        default_factory=lambda: {
            k: []
            for k in (
                "mode",
                "mechanism",
                "control",
                "fixture",
                "point",
                "iteration",
                "expected",
                "decision",
                "correct",
                "latency_ns",
                "engine_ns",
            )
        }
    )
    decisions: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    # Rows an engine measured itself (opa bench), by table name.
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __len__(self) -> int:
        """Complete rows (an interrupt can leave the last one half-written)."""
        return min(len(v) for v in self.columns.values())

    def add(
        self,
        mode: str,
        control: str,
        fixture: Fixture,
        iteration: int,
        decision: Decision,
        latency_ns: int,
        mechanism: str,
    ) -> None:
        cols = self.columns
        expected = fixture.expect if mode == POLICY_MODE else None
        cols["mode"].append(mode)
        cols["mechanism"].append(mechanism)
        cols["control"].append(control)
        cols["fixture"].append(fixture.id)
        cols["point"].append(fixture.point)
        cols["iteration"].append(iteration)
        cols["expected"].append(expected)
        cols["decision"].append(decision.verdict)
        cols["correct"].append(None if expected is None else judged(fixture, decision))
        cols["latency_ns"].append(latency_ns)
        cols["engine_ns"].append(decision.engine_ns)

    def decide(
        self,
        mode: str,
        mechanism: str,
        control: str,
        fixture: Fixture,
        first: Decision,
        stable: bool,
    ) -> None:
        """The first decision of a measured case, with its messages."""
        self.decisions.append(
            {
                "mode": mode,
                "mechanism": mechanism,
                "control": control,
                "fixture": fixture.id,
                "expected": fixture.expect if mode == POLICY_MODE else None,
                "decision": first.verdict,
                "stable": stable,
                "messages": list(first.messages),
            }
        )


def judged(fixture: Fixture, decision: Decision) -> bool:
    """Right for exactly the fixture's reasons, or, from a mechanism that reports only
    its first violation, with the right verdict."""
    if decision.all_messages:
        return fixture.decided_right(decision.allowed, decision.messages)
    return decision.verdict == fixture.expect


@dataclass
class Run:
    directory: Path
    meta: dict[str, Any]
    records: pd.DataFrame
    decisions: list[dict[str, Any]]
    extras: dict[str, Any]

    @property
    def policy_records(self) -> pd.DataFrame:
        return self.records[self.records["mode"] == POLICY_MODE]

    @property
    def combined_records(self) -> pd.DataFrame:
        return self.records[self.records["mode"] == COMBINED_MODE]

    def mode_records(self, mode: str) -> pd.DataFrame:
        """The records of one series (BASELINE_MODE, MECHANISMS_MODE, PSA_MODE)."""
        return self.records[self.records["mode"] == mode]

    @property
    def replayed_records(self) -> pd.DataFrame:
        """The policies and combined queries: the replay proper, without its series."""
        return self.records[self.records["mode"].isin((POLICY_MODE, COMBINED_MODE))]


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
                # Tracked files outside results/ and paper/ only: earlier runs' result
                # folders, committed reference runs included, and the report made from
                # them are not code (`harness reference` regenerates the paper between
                # steps).
                [
                    "git",
                    "-C",
                    str(root),
                    "status",
                    "--porcelain",
                    "--untracked-files=no",
                    "--",
                    ".",
                    ":!results",
                    ":!paper",
                ],
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


# Tables beside the records: what an engine measured itself, and whole node-check
# processes.
EXTRA_FILES = ("opa_bench", "node_check_process")
# Written by schema 1 run folders; load_run turns them into records.
LEGACY_FILES = ("baseline.json", "psa_agreement.json", "mechanisms.parquet")
# What a run measured; everything else in its folder is derived by report.
DATA_FILES = (
    RUN_FILE,
    RECORDS_FILE,
    DECISIONS_FILE,
    *(f"{n}.json" for n in EXTRA_FILES),
    *LEGACY_FILES,
)


def write_run(
    directory: Path, meta: dict[str, Any], recorder: Recorder, extras: dict[str, Any] | None = None
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in {**recorder.tables, **(extras or {})}.items():
        _write_json(directory / f"{name}.json", value)
    frame = records_frame(recorder, meta)
    frame.to_parquet(directory / RECORDS_FILE, index=False)
    _write_json(directory / DECISIONS_FILE, recorder.decisions)
    _write_meta(directory, meta)


class RunWriter:
    """Keeps a run folder current while the run goes on, so that a crash or SIGKILL
    loses at most one chunk: run.json (marked incomplete) from the start, records in
    chunks and decisions at each checkpoint, the whole folder at the end."""

    def __init__(self, directory: Path, meta: dict[str, Any]) -> None:
        self.directory = directory
        self.meta = meta
        self.flushed = 0
        self.chunks = 0
        self.last = time.monotonic()

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_meta(self.directory, {**self.meta, "complete": False, "error": IN_PROGRESS})

    def checkpoint(self, recorder: Recorder) -> None:
        """Write the rows gathered since the last chunk, if there are enough of them.
        Called between series, never inside the timed loop."""
        pending = len(recorder) - self.flushed
        if pending < CHUNK_ROWS and time.monotonic() - self.last < CHUNK_SECONDS:
            return
        if pending:
            partial = self.directory / PARTIAL_DIR
            partial.mkdir(exist_ok=True)
            frame = records_frame(recorder, self.meta, start=self.flushed)
            _write_aside(
                partial / f"part-{self.chunks:05d}.parquet",
                lambda aside: frame.to_parquet(aside, index=False),
            )
            self.chunks += 1
            self.flushed += pending
            _write_json(self.directory / DECISIONS_FILE, recorder.decisions)
        for name, rows in recorder.tables.items():
            _write_json(self.directory / f"{name}.json", rows)
        self.last = time.monotonic()

    def finish(self, recorder: Recorder, extras: dict[str, Any] | None = None) -> None:
        write_run(self.directory, self.meta, recorder, extras)
        shutil.rmtree(self.directory / PARTIAL_DIR, ignore_errors=True)


def _write_json(path: Path, value: Any) -> None:
    text = json.dumps(value, indent=1) + "\n"
    _write_aside(path, lambda aside: aside.write_text(text))


def _write_meta(directory: Path, meta: dict[str, Any]) -> None:
    text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    _write_aside(directory / RUN_FILE, lambda aside: aside.write_text(text))


def _write_aside(path: Path, write: Callable[[Path], Any]) -> None:
    """Written under another name and renamed (atomic on one filesystem), so a run
    killed mid-write leaves the previous whole file, never half of a new one under a
    name the reader takes."""
    aside = path.with_name(path.name + ".tmp")
    write(aside)
    os.replace(aside, path)


def records_frame(recorder: Recorder, meta: dict[str, Any], start: int = 0) -> pd.DataFrame:
    # Ctrl-C can land between two column appends of one row: that row is dropped.
    rows = min(len(v) for v in recorder.columns.values())
    cols = {name: values[start:rows] for name, values in recorder.columns.items()}
    frame = pd.DataFrame(
        {
            "mode": pd.Categorical(cols["mode"]),
            "mechanism": pd.Categorical(cols["mechanism"]),
            "control": pd.Categorical(cols["control"]),
            "fixture": pd.Categorical(cols["fixture"]),
            "point": pd.Categorical(cols["point"]),
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
        records = _read_records(directory)
        decisions_file = directory / DECISIONS_FILE
        decisions = json.loads(decisions_file.read_text()) if decisions_file.is_file() else []
        extras = {
            name: json.loads((directory / f"{name}.json").read_text())
            for name in EXTRA_FILES
            if (directory / f"{name}.json").is_file()
        }
        if meta.get("schema", 1) < 2:
            records, decisions = _upgrade(directory, meta, records, decisions)
    except (OSError, ValueError, KeyError) as exc:
        raise HarnessError(f"{directory}: unreadable run folder: {exc}") from None
    return Run(directory, meta, records, decisions, extras)


# The mechanism a schema 1 run's own replay went through, by target.
_LEGACY_MECHANISM = {"local": WEBHOOK, "kind": WEBHOOK, "cluster": WEBHOOK, "vap": VAP}


def _upgrade(
    directory: Path, meta: dict[str, Any], records: pd.DataFrame, decisions: list[dict[str, Any]]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """A schema 1 run folder as schema 2: its baseline, mechanisms and PSA files become
    records of their modes, its decisions name their mechanism."""
    target = meta.get("target")
    mechanism = _LEGACY_MECHANISM.get(str(target), POLICY)
    records = records.assign(mechanism=mechanism)
    decisions = [{**d, "mechanism": mechanism} for d in decisions]
    first_control: dict[str, str] = {}
    for row in records[records["mode"] == POLICY_MODE][["fixture", "control"]].itertuples():
        first_control.setdefault(str(row.fixture), str(row.control))
    added = []
    if (directory / "baseline.json").is_file():
        base = pd.DataFrame(json.loads((directory / "baseline.json").read_text()))
        if len(base):
            added.append(
                base.assign(
                    mode=BASELINE_MODE,
                    mechanism=NONE,
                    control=base["fixture"].map(first_control),
                )
            )
    if (directory / "mechanisms.parquet").is_file():
        added.append(pd.read_parquet(directory / "mechanisms.parquet").assign(mode=MECHANISMS_MODE))
    if (directory / "psa_agreement.json").is_file():
        psa = []
        for row in json.loads((directory / "psa_agreement.json").read_text()):
            message = row.get("psa_message") or ""
            for mech, verdict, messages in (
                (POLICY, row["nsa_1_4"], []),
                (PSA, row["psa"], [message] if message else []),
            ):
                case = {"mode": PSA_MODE, "mechanism": mech, "control": "NSA-1.4"}
                psa.append({**case, "fixture": row["fixture"], "iteration": 0, "decision": verdict})
                decisions.append(
                    {**case, "fixture": row["fixture"], "expected": None, "decision": verdict,
                     "stable": True, "messages": messages}
                )  # fmt: skip
        added.append(pd.DataFrame(psa))
    if added:
        records = pd.concat([records, *added], ignore_index=True)
        records["target"] = target
        records["engine"] = meta.get("engine")
        records = records.astype({c: "category" for c in _CATEGORIES if c in records})
    return records, decisions


_CATEGORIES = (
    "mode", "mechanism", "control", "fixture", "point", "expected", "decision", "target", "engine"
)  # fmt: skip


def _read_records(directory: Path) -> pd.DataFrame:
    """The finished run's records, or the chunks a killed run left behind."""
    if (directory / RECORDS_FILE).is_file():
        return pd.read_parquet(directory / RECORDS_FILE)
    parts = sorted((directory / PARTIAL_DIR).glob("part-*.parquet"))
    if not parts:
        return records_frame(Recorder(), {})
    frames = [pd.read_parquet(p) for p in parts]
    records = pd.concat(frames, ignore_index=True)
    for column in _CATEGORIES:
        if column in records:  # chunks written before the point column have none
            records[column] = records[column].astype("category")
    return records
