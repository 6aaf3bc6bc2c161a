"""In-process Rego through regopy (Microsoft's rego-cpp): a target that needs
no cluster and no OPA binary. Policies are compiled once into a bundle; each decision is
set_input + one bundle entrypoint query."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import regopy
from regopy import Input, Interpreter

from harness.errors import HarnessError, TargetError
from harness.model.defaulting import admitted_review
from harness.model.policies import PolicySet, RegoModule
from harness.targets.base import Decision, Target

_ERROR_MSG = re.compile(r"\(errormsg \d+:([^)]*)\)")
_ERROR_AT = re.compile(r"\(error \d+:([^|()\s]+)\|(\d+)\|")


class EmbeddedTarget(Target):
    name = "embedded"

    def __init__(self) -> None:
        self._rego: Interpreter  # set by start()
        self._bundle: Any = None

    def start(self, policy: PolicySet) -> None:
        _warn_if_numpy_came_first()
        _silence_engine_log()
        rego = Interpreter()
        if (policy.config.get("image_scanner") or {}).get("url") and not rego.is_builtin(
            "http.send"
        ):
            raise HarnessError(
                "image_scanner.url is set, but the in-process engine cannot ask a scanner "
                "(rego-cpp has no http.send): `run --target opa` or `--target local` can; "
                "for check and audit set image_scanner.url to null"
            )
        for module in policy.modules:
            _add_module(rego, module)
        rego.add_data(policy.data)
        try:
            with _quiet_stderr():
                self._bundle = rego.build(None, list(policy.queries))
        except regopy.RegoError as exc:
            raise HarnessError(f"{policy.root}: Rego does not compile: {_describe(exc)}") from None
        self._rego = rego

    def prepare(self, review: dict[str, Any], query: str) -> Any:
        # Built once here, like the Wasm target's serialised input: decide() times only
        # handing the input to the engine and evaluating.
        return Input(_as_rego_strings(admitted_review(review))), query

    def decide(self, prepared: Any) -> Decision:
        value_in, query = prepared
        rego = self._rego
        rego.set_input(value_in)
        out = rego.query_bundle_entrypoint(self._bundle, query)
        if not out.ok():
            raise TargetError(f"embedded engine failed on {query}: {out}")
        value = json.loads(out.expressions().json())
        messages = tuple(sorted(value[0])) if value and isinstance(value[0], list) else ()
        return Decision(allowed=not messages, messages=messages)

    def describe(self) -> dict[str, Any]:
        return {"engine": "regopy (rego-cpp)", "engine_version": regopy.__version__}


def _as_rego_strings(value: Any) -> Any:
    """rego-cpp keeps a string as its JSON-escaped text, and regopy's Input hands Python
    strings over unescaped: a quote, backslash or newline in the input then compared unequal
    to the same Rego literal and broke the engine's JSON output (a kubeconfig error message
    with quotes made `decide` raise). Escaping every string, keys included, the way
    rego-cpp's own JSON reader does makes both right (tests/test_engine.py)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)[1:-1]
    if isinstance(value, dict):
        return {_as_rego_strings(k): _as_rego_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_rego_strings(v) for v in value]
    return value


_log_level_set = False


def _warn_if_numpy_came_first() -> None:
    """See harness/__init__.py: the leak depends on import order, which a host process
    (a notebook that imported pandas before harness) can get wrong."""
    loaded = list(sys.modules)
    if "numpy" in loaded and loaded.index("numpy") < loaded.index("regopy"):
        warnings.warn(
            "numpy was imported before regopy: rego-cpp then leaks memory on every query; "
            "import harness (or regopy) before numpy/pandas",
            RuntimeWarning,
            stacklevel=3,
        )


def _silence_engine_log() -> None:
    """rego-cpp aborts the process if its default log level is set twice."""
    global _log_level_set
    if not _log_level_set:
        regopy.set_default_log_level("None")
        _log_level_set = True


def _add_module(rego: Interpreter, module: RegoModule) -> None:
    try:
        with _quiet_stderr():
            rego.add_module(module.name, module.source)
    except regopy.RegoError as exc:
        raise HarnessError(f"{module.path}: invalid Rego: {_describe(exc, module)}") from None


def _describe(exc: Exception, module: RegoModule | None = None) -> str:
    """rego-cpp reports errors as an S-expression; keep the first message and its line."""
    text = str(exc)
    msg = _ERROR_MSG.search(text)
    where = _ERROR_AT.search(text)
    summary = msg.group(1).strip() if msg else " ".join(text.split())[:200]
    if where and module is not None:
        line = module.source.count("\n", 0, int(where.group(2))) + 1
        return f"line {line}: {summary}"
    if where:
        return f"{where.group(1)}: {summary}"
    return summary


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """rego-cpp prints compile errors to fd 2 itself; we report them as one line instead."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
