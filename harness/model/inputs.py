"""A fingerprint of what a run's verdicts depend on: the policies, the fixtures, the
catalog and the admin config. A run records it; `harness paper --check` compares a
reference run's fingerprint with today's tree, so a report cannot quietly rest on runs
made with other policies or fixtures.

It fingerprints meaning, not bytes, so an edit that cannot change a verdict leaves the
reference runs current: Rego without its comments, blank lines and runs of spaces
outside strings (the `_test.rego` suites decide nothing), YAML as the documents it
parses to (comments and layout dropped), the catalog without its prose (each control's
rationale). The normalisation only ever forgets what the parsers forget, so two inputs
with one fingerprint decide alike; the converse is not promised (a reformatted rule
counts as a change).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from harness import paths

PARTS = ("policies", "fixtures", "catalog", "config")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _tree(root: Path, pattern: str, read: Callable[[Path], bytes]) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob(pattern)):
        if path.is_file() and not path.name.endswith("_test.rego"):
            h.update(str(path.relative_to(root)).encode() + b"\0" + read(path) + b"\0")
    return h.hexdigest()


def rego_meaning(text: str) -> str:
    """Rego without comments, blank lines, indentation or repeated spaces outside
    strings ("..." with escapes, `raw` spanning lines), which OPA's parser ignores."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif c == "`":
            j = text.find("`", i + 1)
            j = n if j < 0 else j
            out.append(text[i : j + 1])
            i = j + 1
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in " \t\r":
            out.append(" ")
            while i < n and text[i] in " \t\r":
                i += 1
        else:
            out.append(c)
            i += 1
    lines = (line.strip() for line in "".join(out).split("\n"))
    return "\n".join(line for line in lines if line)


def _rego(path: Path) -> bytes:
    return rego_meaning(path.read_text()).encode()


def _yaml(path: Path) -> bytes:
    return _canonical(list(yaml.load_all(path.read_text(), Loader=_Loader)))


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, default=str).encode()


def _catalog() -> str:
    catalog = yaml.load(paths.catalog_file().read_text(), Loader=_Loader)
    for entry in catalog if isinstance(catalog, list) else catalog.get("controls", []):
        if isinstance(entry, dict):
            entry.pop("rationale", None)
    return hashlib.sha256(_canonical(catalog)).hexdigest()


def digest(config: dict[str, Any]) -> dict[str, str]:
    """sha256 per part; config as the canonical JSON of the merged document."""
    return {
        "policies": _tree(paths.policies_dir(), "*.rego", _rego),
        "fixtures": _tree(paths.fixtures_dir(), "*.yaml", _yaml),
        "catalog": _catalog(),
        "config": hashlib.sha256(_canonical(config)).hexdigest(),
    }


def vap_digest() -> str:
    """The ValidatingAdmissionPolicies' files (policies/vap/), which only the vap target
    reads: its runs record this beside the parts above."""
    return _tree(paths.policies_dir() / "vap", "*.yaml", _yaml)


def changed(recorded: dict[str, str], today: dict[str, str]) -> list[str]:
    """The parts whose recorded fingerprint differs from today's (digest())."""
    return [part for part in PARTS if recorded.get(part) != today[part]]
