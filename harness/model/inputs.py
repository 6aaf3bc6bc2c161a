"""A fingerprint of everything a run's verdicts depend on: the policies, the fixtures,
the catalog and the admin config. A run records it; `harness paper --check` compares a
reference run's fingerprint with today's tree, so a report cannot quietly rest on runs
made with other policies or fixtures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from harness import paths

PARTS = ("policies", "fixtures", "catalog", "config")


def _tree(root: Path, pattern: str) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob(pattern)):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def digest(config: dict[str, Any]) -> dict[str, str]:
    """sha256 per part; config as the canonical JSON of the merged document."""
    return {
        "policies": _tree(paths.policies_dir(), "*.rego"),
        "fixtures": _tree(paths.fixtures_dir(), "*"),
        "catalog": hashlib.sha256(paths.catalog_file().read_bytes()).hexdigest(),
        "config": hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest(),
    }


def vap_digest() -> str:
    """The ValidatingAdmissionPolicies' files (policies/vap/), which only the vap target
    reads: its runs record this beside the parts above."""
    return _tree(paths.policies_dir() / "vap", "*.yaml")


def changed(recorded: dict[str, str], today: dict[str, str]) -> list[str]:
    """The parts whose recorded fingerprint differs from today's (digest())."""
    return [part for part in PARTS if recorded.get(part) != today[part]]
