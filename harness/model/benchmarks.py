"""The CIS Kubernetes Benchmark's section 5 in each version: scenarios/benchmarks/<name>.yaml.

Each file is the benchmark's own list (id, title, Automated or Manual, as kube-bench's
cfg/<name>/policies.yaml carries it, with the commit read), and each row names the
catalog control it is, so that a control keeps one identity (its v1.23 id, the thesis's)
while its printed id follows the version a user chooses. A row whose control the catalog
does not have yet says so (control: null): coverage counts it as not covered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness import paths
from harness.errors import HarnessError
from harness.model.catalog import Catalog
from harness.model.yamlfile import read_yaml

# The thesis's version: the reproduction tables' default.
DEFAULT = "cis-1.23"
ASSESSMENTS = ("automated", "manual")
_ID = re.compile(r"^5(\.\d+)+$")


@dataclass(frozen=True)
class Row:
    id: str  # as this version numbers it (5.2.9)
    title: str
    assessment: str  # automated or manual, in this version
    control: str | None  # the catalog control (CIS-5.2.10), None where it has none yet


@dataclass(frozen=True)
class Benchmark:
    name: str  # cis-1.23
    title: str
    order: int  # oldest first
    kubernetes: tuple[str, ...]  # the Kubernetes minor versions it is for, where confirmed
    source: str
    rows: tuple[Row, ...]

    def row_of(self, control_id: str) -> Row | None:
        """The row that is control_id in this version; None where the version lacks it."""
        return next((r for r in self.rows if r.control == control_id), None)

    def published_id(self, control_id: str) -> str | None:
        row = self.row_of(control_id)
        return None if row is None else f"CIS-{row.id}"


def benchmarks_dir() -> Path:
    return paths.scenarios_dir() / "benchmarks"


def load_benchmarks(catalog: Catalog, directory: Path | None = None) -> dict[str, Benchmark]:
    """Every version, oldest first (each file's `order`; CIS numbered v1.23 and v1.24 after
    Kubernetes, then went back to v1.7)."""
    directory = directory or benchmarks_dir()
    found = [load_benchmark(path, catalog) for path in sorted(directory.glob("cis-*.yaml"))]
    if not found:
        raise HarnessError(f"{directory}: no benchmark versions (cis-<version>.yaml)")
    found.sort(key=lambda b: b.order)
    if len({b.order for b in found}) != len(found):
        raise HarnessError(f"{directory}: two benchmark versions with one order")
    return {b.name: b for b in found}


def load_benchmark(path: Path, catalog: Catalog) -> Benchmark:
    doc = read_yaml(path, "benchmark file does not exist")
    where = str(path)
    if not isinstance(doc, dict):
        raise HarnessError(f"{where}: expected a mapping")
    for key in ("benchmark", "title", "order", "kubernetes", "source", "controls"):
        if key not in doc:
            raise HarnessError(f"{where}: needs {key}")
    if doc["benchmark"] != path.stem:
        raise HarnessError(f"{where}: benchmark {doc['benchmark']!r} is not the file's name")
    known = {c.id for c in catalog.framework("cis")}
    rows, ids, controls = [], set(), set()
    for entry in doc["controls"]:
        row = _row(entry, where)
        if row.id in ids:
            raise HarnessError(f"{where}: {row.id} twice")
        if row.control is not None:
            if row.control not in known:
                raise HarnessError(
                    f"{where}: {row.id}: no CIS control {row.control} in the catalog"
                )
            if row.control in controls:
                raise HarnessError(f"{where}: {row.control} named by two rows")
            controls.add(row.control)
        ids.add(row.id)
        rows.append(row)
    kubernetes = tuple(str(v) for v in doc["kubernetes"])
    return Benchmark(doc["benchmark"], str(doc["title"]), int(doc["order"]), kubernetes,
                     str(doc["source"]), tuple(rows))  # fmt: skip


def _row(entry: object, where: str) -> Row:
    if not isinstance(entry, dict) or not {"id", "title", "assessment"} <= set(entry):
        raise HarnessError(f"{where}: each control needs id, title, assessment and control")
    row_id = str(entry["id"])
    if not _ID.match(row_id):
        raise HarnessError(f"{where}: {row_id!r} is not a section 5 id")
    if entry["assessment"] not in ASSESSMENTS:
        raise HarnessError(f"{where}: {row_id}: assessment is automated or manual")
    if "control" not in entry:
        raise HarnessError(f"{where}: {row_id}: control (a catalog id, or null) is missing")
    control = entry["control"]
    return Row(
        row_id, str(entry["title"]), entry["assessment"], None if control is None else str(control)
    )
