"""The control catalog: scenarios/catalog.yaml, validated on load.

The catalog is data. Adding a control adds an entry here, a Rego package and a fixture
folder (`python -m harness new-control` scaffolds all three for an admission control).
Validation turns a typo into a one-line error naming the file and control instead of a
silently missing row in a coverage table.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import paths
from harness.errors import HarnessError
from harness.model.yamlfile import read_yaml

FRAMEWORKS = {"nsa": "NSA", "cis": "CIS"}
ASSESSMENTS = {"RD", "NC", "OOS"}
ENFORCEMENT_POINTS = {"admission", "node", "audit", "none"}
THESIS_VERDICTS = {"✓", "×", "Partially", "OOS"}
# `thesis: none`: a control the thesis's tables 6.1 and 6.2 do not have (one added since),
# written out so that an entry that forgets its thesis verdict is still an error.
NOT_IN_THESIS = "none"
SCOPES = {"full", "partial"}

REQUIRED_KEYS = {
    "id",
    "framework",
    "title",
    "guideline",
    "assessment",
    "enforcement",
    "thesis",
    "scope",
    "rationale",
}
OPTIONAL_KEYS = {
    "policy",
    "also_at",
    "fixtures",
    "published_id",
    "condition",
    "verdict",
    "fuzz_difference",
    "not_on_windows",
}
# Which enforcement points each command evaluates (run takes every point).
COMMAND_POINTS = {
    "check": {"admission"},
    "node-check": {"node"},
    "audit": {"admission", "audit"},
    "mutate": {"admission", "audit", "node"},
    "peers": {"admission", "audit", "node"},
}
# Our own verdict for a control that has no policy (the reason is the rationale).
OWN_VERDICTS = {"not-enforceable"}
# Where an enforcement point's Rego packages live: policies/<root>/<policy>/, data.<root>.
PACKAGE_ROOTS = {"admission": "controls", "node": "node", "audit": "audit", "none": "controls"}
# The points a fixture can feed (its subject's kind says which); also_at names these.
FIXTURE_POINTS = ("admission", "node", "audit")
ID_PATTERN = re.compile(r"^(NSA|CIS)-\d+(\.\d+)*$")
_PACKAGE = re.compile(r"^[a-z][a-z0-9_]*$")


def package_name(control_id: str) -> str:
    """The Rego package a control's policy is named after: CIS-5.2.2 -> cis_5_2_2."""
    return control_id.lower().replace("-", "_").replace(".", "_")


def id_sort_key(control_id: str) -> tuple[bool, tuple[int, ...]]:
    """Table order: NSA before CIS, then numerically (NSA-1.10 after NSA-1.9)."""
    prefix, _, number = control_id.partition("-")
    return (prefix != "NSA", tuple(int(p) for p in number.split(".")))


@dataclass(frozen=True)
class ThesisVerdict:
    assessment: str
    verdict: str

    @property
    def enforceable(self) -> bool:
        return self.verdict == "✓"


@dataclass(frozen=True)
class Control:
    id: str
    framework: str
    title: str
    guideline: str
    assessment: str
    enforcement: str
    thesis: ThesisVerdict | None  # None: not in the thesis's tables (`thesis: none`)
    scope: str
    rationale: str
    policy: str | None = None
    fixtures: str | None = None
    published_id: str | None = None
    condition: str | None = None
    verdict: str | None = None
    # Why `harness fuzz` may see this control differ from Pod Security Admission on
    # purpose (None: every difference is a defect).
    fuzz_difference: str | None = None
    # Packages at further enforcement points, where one point cannot see every way to
    # break the control (CIS-5.1.7: bindings at admission, kubeconfigs on the node). Their
    # fixtures share the control's folder; each fixture's kind says which point it feeds.
    also_at: tuple[tuple[str, str], ...] = ()
    # Why the control has nothing to check on a Windows pod (the API refuses every field
    # it reads there); None: it applies to Windows pods too.
    not_on_windows: str | None = None

    @property
    def has_policy(self) -> bool:
        return self.policy is not None

    @property
    def points(self) -> dict[str, str]:
        """Enforcement point -> Rego package, the primary point first."""
        if self.policy is None:
            return {}
        return {self.enforcement: self.policy, **dict(self.also_at)}

    def entrypoint_at(self, point: str) -> str:
        """The deny rule of this control's package at point, as a data path."""
        if point not in self.points:
            raise HarnessError(f"{self.id}: has no policy at the {point} point")
        return f"{PACKAGE_ROOTS[point]}/{self.points[point]}/deny"

    @property
    def entrypoints(self) -> list[str]:
        return [self.entrypoint_at(point) for point in self.points]

    @property
    def package_root(self) -> str:
        return PACKAGE_ROOTS[self.enforcement]

    @property
    def entrypoint(self) -> str:
        """The deny rule of this control's Rego package at its primary point."""
        if self.policy is None:
            raise HarnessError(f"{self.id}: has no policy")
        return self.entrypoint_at(self.enforcement)

    def sort_key(self) -> tuple[bool, tuple[int, ...]]:
        return id_sort_key(self.id)


class Catalog:
    """All controls, in table order, with lookups by id."""

    def __init__(self, controls: Iterable[Control], source: Path) -> None:
        self.controls = sorted(controls, key=Control.sort_key)
        self.source = source
        self._by_id = {c.id: c for c in self.controls}

    def __iter__(self) -> Iterator[Control]:
        return iter(self.controls)

    def __len__(self) -> int:
        return len(self.controls)

    def get(self, control_id: str) -> Control:
        """A control by id, in any case (nsa-1.1 is NSA-1.1); an unknown id names the
        nearest known ones."""
        key = control_id.strip().upper()
        if key in self._by_id:
            return self._by_id[key]
        near = difflib.get_close_matches(key, list(self._by_id), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(near)}?" if near else f" (not in {self.source})"
        raise HarnessError(f"unknown control id {control_id!r}{hint}")

    def select(self, ids: Iterable[str] | None) -> list[Control]:
        """The controls named by ids (all when None), in catalog order."""
        if not ids:
            return list(self.controls)
        wanted = {self.get(i).id for i in ids if i.strip()}
        return [c for c in self.controls if c.id in wanted]

    def select_for(self, ids: Iterable[str] | None, command: str) -> list[Control]:
        """The controls with a policy that command evaluates: all of them when ids is
        None. A named control the command does not evaluate is an error saying which
        command does, rather than an empty result."""
        points = COMMAND_POINTS[command]
        if not ids:
            return [c for c in self.controls if set(c.points) & points]
        chosen = self.select(ids)
        for control in chosen:
            if not control.has_policy:
                why = "out of scope" if control.assessment == "OOS" else "not enforceable"
                raise HarnessError(
                    f"{control.id} has no policy ({why}: see `python -m harness controls`)"
                )
            if not set(control.points) & points:
                other = next(c for c, p in COMMAND_POINTS.items() if control.enforcement in p)
                raise HarnessError(
                    f"{control.id} is a{'n' if control.enforcement[0] in 'aeiou' else ''} "
                    f"{control.enforcement} control, which `{command}` does not evaluate; "
                    f"use `python -m harness {other}`"
                )
        return chosen

    def framework(self, name: str) -> list[Control]:
        return [c for c in self.controls if c.framework == name]

    @property
    def with_policy(self) -> list[Control]:
        return [c for c in self.controls if c.has_policy]


def load_catalog(
    path: Path | None = None,
    policies: Path | None = None,
    fixtures: Path | None = None,
) -> Catalog:
    path = path or paths.catalog_file()
    policies = policies or paths.policies_dir()
    fixtures = fixtures or paths.fixtures_dir()
    entries = read_yaml(path, "catalog file not found")
    if not isinstance(entries, list):
        raise HarnessError(f"{path}: the catalog must be a YAML list of controls")
    controls: list[Control] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        control = _parse_entry(entry, index, path)
        if control.id in seen:
            raise HarnessError(f"{path}: duplicate control id {control.id}")
        seen.add(control.id)
        _check_files(control, path, policies, fixtures)
        controls.append(control)
    return Catalog(controls, path)


def _parse_entry(entry: Any, index: int, path: Path) -> Control:
    where = f"{path}: entry {index + 1}"
    if not isinstance(entry, dict):
        raise HarnessError(f"{where}: each control must be a mapping")
    cid = entry.get("id")
    if isinstance(cid, str):
        where = f"{path}: {cid}"
    unknown = set(entry) - REQUIRED_KEYS - OPTIONAL_KEYS
    if unknown:
        raise HarnessError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    missing = REQUIRED_KEYS - set(entry)
    if missing:
        raise HarnessError(f"{where}: missing key(s) {', '.join(sorted(missing))}")
    if not isinstance(cid, str) or not ID_PATTERN.match(cid):
        raise HarnessError(f"{where}: id must look like NSA-1.1 or CIS-5.2.7")
    _expect(entry["framework"], FRAMEWORKS, where, "framework")
    if FRAMEWORKS[entry["framework"]] != cid.split("-")[0]:
        raise HarnessError(f"{where}: framework {entry['framework']} does not match the id")
    _expect(entry["assessment"], ASSESSMENTS, where, "assessment")
    _expect(entry["enforcement"], ENFORCEMENT_POINTS, where, "enforcement")
    _expect(entry["scope"], SCOPES, where, "scope")
    thesis = _thesis(entry["thesis"], where)
    policy = entry.get("policy")
    if policy is not None and not (isinstance(policy, str) and _PACKAGE.match(policy)):
        raise HarnessError(f"{where}: policy must be a Rego package name like nsa_1_1")
    if entry["assessment"] == "RD" and policy is None:
        raise HarnessError(f"{where}: an RD control needs a policy")
    if policy is not None and not entry.get("fixtures"):
        raise HarnessError(f"{where}: a control with a policy needs a fixtures folder")
    also_at = _also_at(entry.get("also_at"), entry["enforcement"], policy, where)
    verdict = entry.get("verdict")
    if verdict is not None:
        _expect(verdict, OWN_VERDICTS, where, "verdict")
        if policy is not None:
            raise HarnessError(f"{where}: verdict is for controls without a policy")
    return Control(
        id=cid,
        framework=entry["framework"],
        title=str(entry["title"]),
        guideline=str(entry["guideline"]),
        assessment=entry["assessment"],
        enforcement=entry["enforcement"],
        thesis=thesis,
        scope=entry["scope"],
        rationale=" ".join(str(entry["rationale"]).split()),
        policy=policy,
        fixtures=entry.get("fixtures"),
        published_id=entry.get("published_id"),
        condition=entry.get("condition"),
        verdict=verdict,
        fuzz_difference=entry.get("fuzz_difference"),
        also_at=also_at,
        not_on_windows=entry.get("not_on_windows"),
    )


def _thesis(value: Any, where: str) -> ThesisVerdict | None:
    if value == NOT_IN_THESIS:
        return None
    if not isinstance(value, dict) or set(value) != {"assessment", "verdict"}:
        raise HarnessError(
            f"{where}: thesis must have exactly assessment and verdict, or be "
            f"{NOT_IN_THESIS} (a control the thesis's tables do not have)"
        )
    _expect(value["assessment"], ASSESSMENTS - {"OOS"}, where, "thesis.assessment")
    _expect(value["verdict"], THESIS_VERDICTS, where, "thesis.verdict")
    return ThesisVerdict(value["assessment"], value["verdict"])


def _also_at(
    value: Any, primary: str, policy: str | None, where: str
) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if policy is None:
        raise HarnessError(f"{where}: also_at needs a policy at the primary point first")
    if not isinstance(value, dict) or not value:
        raise HarnessError(f"{where}: also_at maps enforcement points to Rego packages")
    for point, package in value.items():
        _expect(point, set(FIXTURE_POINTS) - {primary}, where, "also_at point")
        if not (isinstance(package, str) and _PACKAGE.match(package)):
            raise HarnessError(f"{where}: also_at.{point} must be a Rego package name")
    return tuple(value.items())


def _check_files(control: Control, path: Path, policies: Path, fixtures: Path) -> None:
    for point, package in control.points.items():
        package_dir = policies / PACKAGE_ROOTS[point] / package
        if not any(p for p in package_dir.glob("*.rego") if not p.name.endswith("_test.rego")):
            raise HarnessError(f"{path}: {control.id}: policy {package} not found in {package_dir}")
    if control.fixtures is not None and not (fixtures / control.fixtures).is_dir():
        raise HarnessError(
            f"{path}: {control.id}: fixtures folder {fixtures / control.fixtures} not found"
        )


def _expect(value: Any, allowed: Iterable[str], where: str, key: str) -> None:
    if value not in allowed:
        choices = ", ".join(sorted(allowed))
        raise HarnessError(f"{where}: {key} must be one of {choices} (got {value!r})")
