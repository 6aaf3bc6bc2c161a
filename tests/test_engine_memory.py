"""Regression test: rego-cpp leaked tens of KB per query when numpy was loaded before it.
The harness loads regopy first; a process that imports harness and then numpy must stay
flat over thousands of decisions."""

from __future__ import annotations

import subprocess
import sys

HARNESS_FIRST = "import harness\nimport numpy  # after harness, as the CLI does through pandas\n"
NUMPY_FIRST = "import numpy\nimport warnings\nwarnings.simplefilter('error')\nimport harness\n"

BODY = r"""
from harness.model.catalog import load_catalog
from harness.model.config import load_config
from harness.model.fixtures import load_fixtures
from harness.model.policies import PolicySet, load_modules
from harness.targets.embedded import EmbeddedTarget

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6

catalog = load_catalog()
controls = [catalog.get("NSA-1.1")]
fixtures = load_fixtures(controls)
target = EmbeddedTarget()
target.start(PolicySet(load_modules(), load_config(), fixtures.state(), [c.entrypoint for c in controls]))
prepared = target.prepare(fixtures.by_control["NSA-1.1"][3].input, controls[0].entrypoint)
for _ in range(200):
    target.decide(prepared)
before = rss_mb()
for _ in range(3000):
    target.decide(prepared)
print(rss_mb() - before)
"""


def test_decisions_do_not_leak_when_numpy_is_loaded_after_harness():
    out = subprocess.run(
        [sys.executable, "-c", HARNESS_FIRST + BODY], capture_output=True, text=True, check=True
    )
    growth_mb = float(out.stdout.strip().splitlines()[-1])
    assert growth_mb < 20, f"RSS grew {growth_mb:.0f} MB over 3000 decisions"


def test_numpy_first_is_reported():
    out = subprocess.run([sys.executable, "-c", NUMPY_FIRST + BODY], capture_output=True, text=True)
    assert out.returncode != 0
    assert "numpy was imported before regopy" in out.stderr


def test_regopy_is_loaded_only_with_numpy():
    """node-check (the boot gate) imports the CLI and the wasm engine, neither of which
    needs regopy; it is brought in just before numpy, which the leak is about."""
    probe = (
        "import sys, harness.cli, harness.checks.nodecheck\n"
        "print('regopy' in sys.modules)\n"
        "import pandas\n"
        "names = list(sys.modules)\n"
        "print(names.index('regopy') < names.index('numpy'))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
