"""CIS section 5 per benchmark version (scenarios/benchmarks/): each version's list as
kube-bench carries it, every row tied to the catalog control it is."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from harness.errors import HarnessError
from harness.model.benchmarks import DEFAULT, benchmarks_dir, load_benchmarks
from harness.reporting.coverage import NOT_COVERED, benchmark_rows, compute_coverage
from harness.reporting.paper import reference_dir
from harness.reporting.report import benchmark_versions_text
from harness.reporting.results import load_run

ADDED_IN_1_7 = ["5.1.9", "5.1.10", "5.1.11", "5.1.12", "5.1.13"]


@pytest.fixture(scope="module")
def benchmarks(catalog):
    return load_benchmarks(catalog)


def test_every_version_from_the_thesis_to_v2(benchmarks):
    sizes = {name: len(b.rows) for name, b in benchmarks.items()}
    assert sizes == {
        "cis-1.23": 30, "cis-1.24": 30, "cis-1.7": 35, "cis-1.8": 35, "cis-1.9": 35,
        "cis-1.10": 35, "cis-1.11": 35, "cis-1.12": 34, "cis-2.0": 34,
    }  # fmt: skip
    assert next(iter(benchmarks)) == DEFAULT and list(benchmarks)[-1] == "cis-2.0"
    assert all(b.source.startswith("aquasecurity/kube-bench cfg/") for b in benchmarks.values())


def test_the_thesis_version_is_the_catalog(benchmarks, catalog):
    """v1.23 names every CIS control of the catalog once, under the thesis's numbers
    (the general policies, 5.7.x there, are the catalog's 5.6.x with published_id)."""
    rows = benchmarks[DEFAULT].rows
    assert sorted(r.control for r in rows) == sorted(c.id for c in catalog.framework("cis"))
    for row in rows:
        control = catalog.get(row.control)
        assert f"CIS-{row.id}" == (control.published_id or control.id)


def test_what_moved_between_versions(benchmarks):
    v17, v112, v20 = benchmarks["cis-1.7"], benchmarks["cis-1.12"], benchmarks["cis-2.0"]
    assert [r.id for r in v17.rows if r.control is None] == ADDED_IN_1_7
    # v1.12 dropped added capabilities (5.2.9); the four after it moved up by one
    assert v112.row_of("CIS-5.2.9") is None
    assert v112.published_id("CIS-5.2.10") == "CIS-5.2.9"
    assert v112.published_id("CIS-5.2.13") == "CIS-5.2.12"
    # v1.11 renumbered the general policies from 5.7 to 5.6
    assert benchmarks["cis-1.10"].published_id("CIS-5.6.4") == "CIS-5.7.4"
    assert v20.published_id("CIS-5.6.4") == "CIS-5.6.4"


def test_a_row_must_name_a_known_control_once(catalog, tmp_path):
    source = (benchmarks_dir() / "cis-1.24.yaml").read_text()
    for broken, message in (
        (source.replace("control: CIS-5.1.2", "control: CIS-5.9.9", 1), "no CIS control CIS-5.9.9"),
        (source.replace("control: CIS-5.1.2", "control: CIS-5.1.1", 1), "named by two rows"),
        (source.replace('id: "5.1.2"', 'id: "5.1.1"', 1), "5.1.1 twice"),
        (source.replace("    control: CIS-5.1.2\n", "", 1), "control (a catalog id, or null)"),
    ):
        (tmp_path / "cis-1.24.yaml").write_text(broken)
        with pytest.raises(HarnessError, match=re.escape(message)):
            load_benchmarks(catalog, tmp_path)


def test_coverage_in_each_version(benchmarks, catalog):
    """A control the catalog lacks is not covered; the others carry our status."""
    run = load_run(reference_dir() / "wasm")
    coverage = compute_coverage(catalog, run.records, None, None)
    rows = benchmark_rows(coverage, benchmarks["cis-2.0"])
    assert [r.id for r in rows if r.status == NOT_COVERED] == [f"CIS-{i}" for i in ADDED_IN_1_7]
    text = benchmark_versions_text(coverage, benchmarks)
    assert "| v2.0 | 1.34, 1.35 | 34 |" in text
    assert "| CIS-5.2.9 | — | Minimize the admission of containers with added capabilities" in text


def test_controls_lists_a_version_with_its_ids():
    def controls(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "harness", "controls", "--framework", "cis", *args]
        return subprocess.run(command, capture_output=True, text=True)

    listed = json.loads(controls("--benchmark", "cis-1.12", "--format", "json").stdout)
    assert len(listed) == 34
    row = next(r for r in listed if r["id"] == "CIS-5.2.9")
    assert (row["control"], row["assessment"]) == ("CIS-5.2.10", "manual")
    refused = controls("--benchmark", "cis-9.9")
    assert refused.returncode == 2 and "unknown benchmark 'cis-9.9'" in refused.stderr
