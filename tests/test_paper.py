"""The reproduction report: every generated block of paper/paper.md matches what the
committed reference runs produce now, so a number in the paper cannot drift from data."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.reporting.paper import (
    PAPER_FILE,
    REFERENCE_TARGETS,
    Evidence,
    reference_run_dirs,
    refresh_blocks,
    sections,
    stale_blocks,
    stale_runs,
)
from tests.conftest import ROOT

PAPER = ROOT / "paper" / PAPER_FILE


@pytest.fixture(scope="module")
def reference() -> Evidence:
    return Evidence.load()


def test_every_target_that_runs_here_has_a_committed_reference_run():
    found = [d.name for d in reference_run_dirs()]
    assert found == list(REFERENCE_TARGETS)
    for directory in reference_run_dirs():
        assert (directory / "records.parquet").is_file()


def test_reference_runs_are_complete_and_from_a_clean_tree(reference):
    for run in reference.runs:
        assert run.meta["complete"] is True, run.directory
        assert run.meta["commit"]["dirty"] is False, run.directory
        assert run.records["correct"].dropna().all(), run.directory


def test_numbers_in_the_paper_match_the_reference_runs(reference):
    """The check `harness paper --check` makes: regenerate every block, compare."""
    text = PAPER.read_text()
    generated = sections(reference)
    assert stale_blocks(text, generated) == []
    # Every generated section the report defines is placed in the paper.
    assert {f"<!-- generated: {name} -->" for name in generated} <= set(text.splitlines())


def test_a_changed_number_is_caught(reference):
    generated = sections(reference)
    text = refresh_blocks(PAPER.read_text(), generated)
    assert stale_blocks(text, generated) == []
    tampered = text.replace("| All | 33/55 |", "| All | 34/55 |", 1)
    assert tampered != text
    assert stale_blocks(tampered, generated) == ["coverage-totals"]


def test_an_unknown_block_is_an_error(reference):
    with pytest.raises(HarnessError, match="no generated section named 'nope'"):
        refresh_blocks("<!-- generated: nope -->\nx\n<!-- end: nope -->\n", sections(reference))


def test_paper_command_checks_and_regenerates(tmp_path, capsys):
    assert main(["paper", "--check"]) == 0
    (tmp_path / PAPER_FILE).write_text(
        "# t\n<!-- generated: coverage-totals -->\nstale\n<!-- end: coverage-totals -->\n"
    )
    assert main(["paper", "--check", "--paper-dir", str(tmp_path)]) == 1
    assert "block coverage-totals differs" in capsys.readouterr().err
    assert main(["paper", "--paper-dir", str(tmp_path)]) == 0
    written = {p.name for p in (tmp_path / "generated").iterdir()}
    assert {"latency.md", "table-6.1-nsa.md", "figure-6.30-per-policy.png"} <= written
    assert {"figure-targets.png", "psa-agreement.md", "webhook-overhead-local.md"} <= written
    assert "webhook-overhead-kind.md" in written
    assert main(["paper", "--check", "--paper-dir", str(tmp_path)]) == 0
    assert "| All | 33/55 |" in (tmp_path / PAPER_FILE).read_text()


def test_the_thesis_inconsistency_is_computed_not_typed(reference):
    text = sections(reference)["thesis-consistency"]
    assert "CIS-5.2.11 marked otherwise" in text


def test_reference_runs_were_made_with_todays_policies_and_fixtures(reference):
    assert stale_runs(reference) == []


def test_a_run_made_with_other_policies_is_stale(tmp_path):
    import json
    import shutil

    from harness.model import inputs
    from harness.model.config import load_config

    run_dir = tmp_path / "embedded"
    shutil.copytree(reference_run_dirs()[0], run_dir)
    meta = json.loads((run_dir / "run.json").read_text())
    meta["inputs"] = {**inputs.digest(load_config()), "policies": "0" * 64}
    (run_dir / "run.json").write_text(json.dumps(meta))
    problems = stale_runs(Evidence.load([run_dir]))
    assert problems == [f"{run_dir}: made with other policies than today's"]
    assert main(["paper", "--run", str(run_dir), "--check"]) == 1


def test_a_run_records_the_fingerprint_of_what_it_ran(tmp_path):
    import json

    from harness.model import inputs
    from harness.model.config import load_config
    from tests.conftest import small_run

    assert small_run(tmp_path / "run", "NSA-1.1", combined=0, iterations=1) == 0
    recorded = json.loads((tmp_path / "run" / "run.json").read_text())["inputs"]
    assert recorded == inputs.digest(load_config())


def test_a_changed_generated_file_or_derived_file_is_caught(tmp_path):
    import shutil

    from harness.reporting.paper import stale_files

    paper = tmp_path / "paper"
    shutil.copytree(ROOT / "paper", paper)
    headline = paper / "generated" / "headline.md"
    headline.write_text(headline.read_text() + "- a number written by hand\n")
    run_dir = tmp_path / "embedded"
    shutil.copytree(reference_run_dirs()[0], run_dir)
    latency = run_dir / "latency.csv"
    latency.write_text(latency.read_text().replace("NSA-1.1,", "NSA-1.1,9", 1))

    assert stale_files(Evidence.load(), paper) == [
        f"{headline}: differs from the runs (python -m harness paper rewrites it)"
    ]
    problems = stale_files(Evidence.load([run_dir]), paper)
    assert f"{latency}: differs from what its records give" in " ".join(problems)
