"""The inputs fingerprint follows meaning: edits the parsers ignore keep reference runs
current, any other edit makes them stale."""

from __future__ import annotations

from pathlib import Path

from harness.model import inputs

RULE = 'package p\n\ndeny contains "x # y" if {\n\tinput.a == `raw\n# kept`\n}\n'


def test_comments_blank_lines_and_spacing_do_not_count():
    edited = "# a new comment\n" + RULE.replace("if {", "if   {  # why").replace("\n\n", "\n\n\n")
    assert inputs.rego_meaning(edited) == inputs.rego_meaning(RULE)


def test_strings_and_code_count():
    for edited in (
        RULE.replace("x # y", "x #  y"),  # inside a string
        RULE.replace("# kept", "# changed"),  # inside a raw string
        RULE.replace("input.a", "input.b"),
        RULE.replace("\tinput", "\tnot input"),
    ):
        assert inputs.rego_meaning(edited) != inputs.rego_meaning(RULE)


def test_test_suites_and_yaml_comments_do_not_count(tmp_path: Path):
    (tmp_path / "p.rego").write_text(RULE)
    (tmp_path / "f.yaml").write_text("# a case\na: 1\n")
    before = (
        inputs._tree(tmp_path, "*.rego", inputs._rego),
        inputs._tree(tmp_path, "*.yaml", inputs._yaml),
    )
    (tmp_path / "p_test.rego").write_text("package p\ntest_x if true\n")
    (tmp_path / "f.yaml").write_text("# the case, reworded\na:   1\n")
    after = (
        inputs._tree(tmp_path, "*.rego", inputs._rego),
        inputs._tree(tmp_path, "*.yaml", inputs._yaml),
    )
    assert after == before
    (tmp_path / "f.yaml").write_text("a: 2\n")
    assert inputs._tree(tmp_path, "*.yaml", inputs._yaml) != before[1]
