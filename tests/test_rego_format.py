"""Every hand-written Rego file is as `opa fmt` writes it (the style guide's formatter for
Rego, as ruff is for Python). The generated policies/lib/rbac_defaults.rego is left as
`harness rbac-defaults --write` renders it, which its own test holds."""

from __future__ import annotations

import subprocess

from tests.conftest import ROOT, require_tool

GENERATED = {"lib/rbac_defaults.rego"}


def test_rego_is_opa_formatted():
    opa = require_tool("opa")
    policies = ROOT / "policies"
    files = [
        p for p in sorted(policies.rglob("*.rego")) if str(p.relative_to(policies)) not in GENERATED
    ]
    result = subprocess.run(
        [str(opa), "fmt", "--list", *map(str, files)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    unformatted = [line for line in result.stdout.splitlines() if line.strip()]
    assert unformatted == [], f"run: opa fmt -w {' '.join(unformatted)}"
