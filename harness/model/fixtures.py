"""Fixture folders: plain manifests under scenarios/fixtures/<folder>/{allow,deny}/ plus a
suite.yaml that says what each case covers (gatekeeper-library style).

A fixture file holds the object under review (the subject) and, beside it, the cluster
state it needs (Namespace, NetworkPolicy, ResourceQuota, LimitRange).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from harness import paths
from harness.errors import HarnessError
from harness.model.catalog import Control
from harness.model.clusterstate import CLUSTER_STATE
from harness.model.clusterstate import snapshot as cluster_snapshot
from harness.model.manifests import STATE, Document, admission_review, cluster_state, load_documents
from harness.model.nodetree import NODE_TREE, can_materialize
from harness.model.nodetree import snapshot as node_snapshot
from harness.model.yamlfile import read_yaml

EXPECTATIONS = ("allow", "deny")
COVERAGE_TAGS = {"absent", "explicit", "init", "ephemeral", "override", "template"}
_CASE_KEYS = {"file", "note", "reason", "also", "covers", "operation", "subresource", "user"}


@dataclass(frozen=True)
class Fixture:
    folder: str
    expect: str
    path: Path
    subject: Document
    state: tuple[Document, ...]
    note: str
    covers: tuple[str, ...]
    operation: str = "CREATE"
    subresource: str | None = None
    # Deny fixtures: the violation they exercise, as text its deny message contains. A
    # denial counts as correct only with that message, so a broken check cannot hide
    # behind another violation the fixture also has.
    reason: str | None = None
    # Other violations a deny fixture has on purpose, each as text of its message. Every
    # message must be the reason's or one of these, so a check that starts to fire where
    # it should not (an extra message) fails the fixture too.
    also: tuple[str, ...] = ()
    # Who makes the request (its userInfo.username); None: the harness itself. Targets
    # behind a real API server impersonate this user.
    user: str | None = None
    # An UPDATE's object as it was before (None: as the subject, less what the
    # subresource adds).
    previous: Document | None = None

    @property
    def wanted(self) -> tuple[str, ...]:
        """Texts each of which some deny message must contain (reason first)."""
        return (self.reason, *self.also) if self.reason else self.also

    @property
    def id(self) -> str:
        """folder/expect/name: stable across machines, used as the record key."""
        return f"{self.folder}/{self.expect}/{self.path.stem}"

    def decided_right(self, allowed: bool, messages: Iterable[str]) -> bool:
        """Admitted if an allow fixture; if a deny fixture, denied with its reason (and its
        `also` violations) among the messages and no message besides them."""
        if self.expect == "allow":
            return allowed
        if allowed:
            return False
        messages = list(messages)
        wanted = self.wanted
        if not wanted:
            return True
        return all(any(w in m for m in messages) for w in wanted) and all(
            any(w in m for w in wanted) for m in messages
        )

    @property
    def namespace(self) -> str:
        return self.subject.namespace

    @property
    def is_node_tree(self) -> bool:
        return self.subject.kind == NODE_TREE

    @property
    def point(self) -> str:
        """The enforcement point whose policies decide this fixture's input."""
        if self.is_node_tree:
            return "node"
        return "audit" if self.subject.kind == CLUSTER_STATE else "admission"

    def entrypoint(self, control: Control) -> str:
        """control's deny rule at this fixture's point."""
        return control.entrypoint_at(self.point)

    @cached_property
    def input(self) -> dict[str, Any]:
        """What the policy engine sees: an AdmissionReview, a node snapshot (NC) or a
        whole cluster's objects (audit)."""
        if self.is_node_tree:
            return node_snapshot(self.subject.body)
        if self.subject.kind == CLUSTER_STATE:
            return cluster_snapshot(self.subject.body.get("objects") or [])
        return admission_review(
            self.subject.body,
            self.operation,
            self.subresource,
            uid=f"pac-harness-{self.id}",
            user=self.user,
            old=self.previous.body if self.previous else None,
        )


@dataclass
class FixtureSet:
    """Fixtures of the selected controls, and the merged cluster state they bring."""

    by_control: dict[str, list[Fixture]] = field(default_factory=dict)
    # Fixtures left out on this machine, with the reason (node trees need root).
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def unique(self) -> list[Fixture]:
        seen: dict[str, Fixture] = {}
        for fixtures in self.by_control.values():
            for f in fixtures:
                seen.setdefault(f.id, f)
        return list(seen.values())

    def state(self) -> dict[str, Any]:
        return merged_state(self.unique)


def load_folder(name: str, root: Path | None = None) -> list[Fixture]:
    folder = (root or paths.fixtures_dir()) / name
    suite_file = folder / "suite.yaml"
    suite = read_yaml(suite_file, "missing suite file") or {}
    cases = suite.get("cases")
    if not isinstance(cases, list) or not cases:
        raise HarnessError(f"{suite_file}: needs a non-empty list of cases")
    listed = set()
    fixtures = []
    for case in cases:
        fixture = _load_case(folder, name, suite_file, case)
        listed.add(fixture.path.resolve())
        fixtures.append(fixture)
    on_disk = {p.resolve() for e in EXPECTATIONS for p in (folder / e).glob("*.y*ml")}
    unlisted = sorted(on_disk - listed)
    if unlisted:
        raise HarnessError(f"{suite_file}: {unlisted[0]} is not listed in the suite")
    return fixtures


def _load_case(folder: Path, name: str, suite_file: Path, case: Any) -> Fixture:
    if not isinstance(case, dict) or "file" not in case:
        raise HarnessError(f"{suite_file}: every case needs a file")
    unknown = set(case) - _CASE_KEYS
    if unknown:
        raise HarnessError(
            f"{suite_file}: {case['file']}: unknown key(s) {', '.join(sorted(unknown))}"
        )
    rel = Path(case["file"])
    expect = rel.parts[0] if rel.parts else ""
    if expect not in EXPECTATIONS:
        raise HarnessError(f"{suite_file}: {rel} must live under allow/ or deny/")
    covers = tuple(case.get("covers") or ())
    bad = set(covers) - COVERAGE_TAGS
    if bad:
        raise HarnessError(f"{suite_file}: {rel}: unknown coverage tag(s) {', '.join(sorted(bad))}")
    path = folder / rel
    if not path.is_file():
        raise HarnessError(f"{suite_file}: {path} does not exist")
    reason = case.get("reason")
    if expect == "deny" and not (isinstance(reason, str) and reason):
        raise HarnessError(
            f"{suite_file}: {rel}: a deny case needs a reason (text of the deny message it "
            "exercises)"
        )
    if expect == "allow" and reason is not None:
        raise HarnessError(f"{suite_file}: {rel}: an allow case has no reason")
    also = case.get("also") or []
    if expect == "allow" and also:
        raise HarnessError(f"{suite_file}: {rel}: an allow case has no other violations (also)")
    if not (isinstance(also, list) and all(isinstance(a, str) and a for a in also)):
        raise HarnessError(f"{suite_file}: {rel}: also is a list of message texts")
    docs = load_documents(path)
    subjects = [d for d in docs if d.kind not in STATE]
    operation = case.get("operation", "CREATE")
    previous = _previous(path, subjects) if operation == "UPDATE" else None
    if previous is not None:
        subjects = subjects[1:]
    if len(subjects) != 1:
        raise HarnessError(
            f"{path}: a fixture holds exactly one object under review (found {len(subjects)})"
        )
    user = case.get("user")
    if user is not None and not (isinstance(user, str) and user.strip() == user and user):
        raise HarnessError(
            f"{suite_file}: {rel}: user is a username (non-empty text, no surrounding spaces)"
        )
    if user is not None and subjects[0].kind in (NODE_TREE, CLUSTER_STATE):
        raise HarnessError(f"{suite_file}: {rel}: only an admission request has a user")
    return Fixture(
        folder=name,
        expect=expect,
        path=path,
        subject=subjects[0],
        state=tuple(d for d in docs if d.kind in STATE),
        note=str(case.get("note", "")),
        covers=covers,
        operation=operation,
        subresource=case.get("subresource"),
        reason=reason,
        also=tuple(also),
        user=user,
        previous=previous,
    )


def _previous(path: Path, subjects: list[Document]) -> Document | None:
    """An UPDATE fixture may hold the object as it was before the update, then as it is
    after (two documents of one kind and name); without it the update leaves the object
    as it was, apart from what the case's subresource changes."""
    if len(subjects) != 2:
        return None
    before, after = subjects
    if (before.kind, before.namespace, before.name) != (after.kind, after.namespace, after.name):
        raise HarnessError(
            f"{path}: an UPDATE fixture's two objects must be one object before and after "
            f"(found {before.kind} {before.name} and {after.kind} {after.name})"
        )
    return before


def load_fixtures(controls: Iterable[Control], root: Path | None = None) -> FixtureSet:
    cache: dict[str, list[Fixture]] = {}
    result = FixtureSet()
    for control in controls:
        if control.fixtures is None:
            continue
        if control.fixtures not in cache:
            cache[control.fixtures] = load_folder(control.fixtures, root)
        usable = []
        for fixture in cache[control.fixtures]:
            _check_point(control, fixture)
            if fixture.is_node_tree and not can_materialize():
                result.skipped.append((fixture.id, "node trees set file owners, which needs root"))
            else:
                usable.append(fixture)
        result.by_control[control.id] = usable
    merged_state(result.unique)  # validate state ownership early, with a clear error
    return result


def _check_point(control: Control, fixture: Fixture) -> None:
    """A node tree in an admission control's folder needs a node policy to decide it."""
    points = control.points
    if fixture.point not in points:
        raise HarnessError(
            f"{fixture.path}: {control.id} has no policy at the {fixture.point} point "
            f"(it has {', '.join(points)}); add one under also_at or move the fixture"
        )


def merged_state(fixtures: Iterable[Fixture]) -> dict[str, Any]:
    """One cluster holding every fixture's state at once, as a real cluster would.

    Each namespace's state must come from one fixture file only; otherwise one fixture's
    NetworkPolicy would silently change another fixture's verdict.
    """
    owner: dict[str, Path] = {}
    bodies: list[dict[str, Any]] = []
    for fixture in fixtures:
        for doc in fixture.state:
            ns = doc.name if doc.kind == "Namespace" else doc.namespace
            previous = owner.setdefault(ns, fixture.path)
            if previous != fixture.path:
                raise HarnessError(
                    f"{fixture.path}: namespace {ns} already gets its state from {previous}"
                )
            bodies.append(doc.body)
    return cluster_state(bodies)
