"""The wasm target's shipped module: current with today's policies (no OPA needed to
check), used without Go or OPA, and a one-line error naming the command when a policy
was edited and no OPA can recompile it. Its decisions are held to OPA's and regopy's in
test_opa.py."""

from __future__ import annotations

import dataclasses

import pytest

from harness.cli import main
from harness.commands.build import shipped_policy_set
from harness.errors import HarnessError
from harness.model.policies import RegoModule
from harness.targets import wasm


def test_the_shipped_module_was_compiled_from_todays_policies():
    problem = wasm.artifact_problem(shipped_policy_set())
    assert problem is None, f"{problem}: run python -m harness build"
    assert main(["build", "--check"]) == 0


def test_without_opa_the_shipped_module_decides(monkeypatch, policy_set, fixture_set, catalog):
    monkeypatch.setattr(wasm.tools, "locate", lambda tool: None)
    monkeypatch.setattr(wasm.tools, "require", lambda name: pytest.fail("needed opa"))
    target = wasm.WasmTarget()
    target.start(policy_set)
    assert target.describe()["wasm_module"].startswith("shipped")
    fixture = fixture_set.by_control["NSA-1.1"][0]
    query = catalog.get("NSA-1.1").entrypoint
    decision = target.decide(target.prepare(fixture.input, query))
    assert fixture.decided_right(decision.allowed, decision.messages)
    target.close()


def test_an_edited_policy_without_opa_names_the_command(monkeypatch, policy_set):
    monkeypatch.setattr(wasm.tools, "locate", lambda tool: None)
    first = policy_set.modules[0]
    edited = RegoModule(first.path, first.source + "\nedited_rule := true\n")
    policy = dataclasses.replace(policy_set, modules=[edited, *policy_set.modules[1:]])
    with pytest.raises(HarnessError) as info:
        wasm.WasmTarget(fallback=False).start(policy)
    message = str(info.value)
    assert "\n" not in message and "compiled from other policies" in message
    assert first.path.name in message and "python -m harness build" in message

    # A comment is no edit: the shipped module still holds what OPA would compile.
    commented = RegoModule(first.path, first.source + "\n# a comment\n")
    unchanged = dataclasses.replace(policy_set, modules=[commented, *policy_set.modules[1:]])
    assert wasm.artifact_problem(unchanged) is None

    # The default: say so in one line, decide with regopy, and record why.
    target = wasm.WasmTarget()
    target.start(policy)
    described = target.describe()
    assert described["engine"] == "regopy (rego-cpp)"
    assert "python -m harness build" in described["fallback"]
    target.close()


def test_http_send_timeouts_read_as_go_durations():
    assert wasm._seconds("2s") == 2 and wasm._seconds("1m30s") == 90
    assert wasm._seconds("500ms") == 0.5 and wasm._seconds(1_000_000_000) == 1
    with pytest.raises(Exception, match="invalid timeout"):
        wasm._seconds("2 seconds")


def test_a_host_builtin_error_reaches_the_caller(monkeypatch, policy_set, fixture_set, catalog):
    """An exception in a host builtin (here the scanner's http.send) surfaces from
    decide() as itself, through the direct C-API call path, not as an opaque trap."""
    from harness.errors import TargetError

    def broken(*args):
        raise TargetError("boom from the host")

    config = {**policy_set.config, "image_scanner": {"url": "http://127.0.0.1:9/scan"}}
    target = wasm.WasmTarget(fallback=False)
    target.start(dataclasses.replace(policy_set, config=config))
    monkeypatch.setitem(wasm.HOST_BUILTINS, "http.send", broken)
    fixture = next(f for f in fixture_set.by_control["NSA-1.3"] if f.expect == "allow")
    query = catalog.get("NSA-1.3").entrypoint
    with pytest.raises(TargetError, match="boom from the host"):
        target.decide(target.prepare(fixture.input, query))
    monkeypatch.undo()
    decision = target.decide(target.prepare(fixture.input, query))
    assert not decision.allowed  # nothing listens on port 9: the image is unscanned
    assert "could not be scanned" in " ".join(decision.messages)
    target.close()
