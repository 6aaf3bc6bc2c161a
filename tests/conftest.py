"""Shared fixtures: the catalog, the fixture set and one compiled embedded target."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.model.catalog import Catalog, load_catalog
from harness.model.config import load_config
from harness.model.fixtures import FixtureSet, load_fixtures
from harness.model.policies import PolicySet, load_modules, queries_for
from harness.targets.embedded import EmbeddedTarget

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def fixture_set(catalog: Catalog) -> FixtureSet:
    return load_fixtures(catalog.with_policy)


@pytest.fixture(scope="session")
def policy_set(catalog: Catalog, fixture_set: FixtureSet) -> PolicySet:
    return PolicySet(
        modules=load_modules(),
        config=load_config(),
        state=fixture_set.state(),
        queries=queries_for(catalog.with_policy),
    )


@pytest.fixture(scope="session")
def embedded(policy_set: PolicySet):
    target = EmbeddedTarget()
    target.start(policy_set)
    yield target
    target.close()


def small_run(
    out: Path,
    controls: str,
    combined: int = 2,
    iterations: int = 3,
    warmup: int = 0,
    target: str = "embedded",
    node_check_runs: int = 2,
) -> int:
    """`harness run` with a few iterations: a real run folder, quickly."""
    from harness.cli import main

    return main(
        [
            "run",
            "--target",
            target,
            "--controls",
            controls,
            "--iterations",
            str(iterations),
            "--combined-iterations",
            str(combined),
            "--warmup",
            str(warmup),
            "--node-check-runs",
            str(node_check_runs),
            "--out",
            str(out),
            "--quiet",
        ]
    )


def harness_cli(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m harness ARGS` in a child process, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def require_tool(name: str) -> Path:
    """A pinned tool for tests: skip locally with the reason, fail loudly in CI."""
    import os

    from harness.errors import HarnessError
    from harness.infra import tools

    try:
        return tools.require(name)
    except HarnessError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI must provision it in .ci/run)")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def opa_binary() -> Path:
    return require_tool("opa")


def opa_eval(opa: Path, expression: str, document: dict, tmp_path: Path) -> list | None:
    """`opa eval` of one expression over document as input: OPA's own answer, the oracle
    for what the other engines and the wasm host serve. None where it is undefined."""
    (tmp_path / "input.json").write_text(json.dumps(document))
    out = subprocess.run(
        [str(opa), "eval", "--format", "json", "--input", str(tmp_path / "input.json"),
         expression],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout).get("result")
    return None if result is None else result[0]["expressions"][0]["value"]


@pytest.fixture(scope="session")
def wasm_target(policy_set):
    """The shipped Wasm module (no fallback: a stale module must fail, not hide)."""
    from harness.targets.wasm import WasmTarget

    target = WasmTarget(fallback=False)
    target.start(policy_set)
    yield target
    target.close()


@pytest.fixture(scope="session")
def opa_target(opa_binary, policy_set):
    from harness.targets.opa import OpaServerTarget

    target = OpaServerTarget()
    target.start(policy_set)
    yield target
    target.close()


def wait_for_replay(proc) -> None:
    """Block until a `harness run` subprocess says it has started measuring."""
    seen = []
    for line in proc.stderr:
        if line.startswith("replaying "):
            return
        seen.append(line)
    raise AssertionError("the run ended before it started measuring: " + "".join(seen[-5:]).strip())


def _interruptible() -> None:
    """The child takes Ctrl-C however the suite was started: a shell that puts the suite
    in the background without job control makes it ignore SIGINT, and Python keeps an
    ignored SIGINT ignored (the runs then finished instead of stopping)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def spawn():
    """Popen for tests that signal a `harness run`: whatever a failing test leaves
    running is killed at teardown, so it cannot skew later timings."""
    from harness.infra import processes

    procs: list[subprocess.Popen] = []

    def start(args: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_interruptible,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        processes.stop(proc, timeout=20)
