"""Offline check of a user's manifests against the admission policies, like conftest.

Namespace, NetworkPolicy, ResourceQuota, LimitRange and PeerAuthentication documents
in the input form the cluster state the policies consult; pod-bearing and RBAC objects
(or AdmissionReviews of them) are decided, each against every selected control.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.model.catalog import Control
from harness.model.manifests import (
    ADMISSION_REVIEW,
    OTHER_BUILTIN_KINDS,
    REVIEWED,
    STATE,
    Document,
    admission_review,
    cluster_state,
    find_manifest_files,
    is_custom_resource,
    load_documents,
    pod_spec,
    unwrap_review,
)
from harness.model.policies import policy_set
from harness.targets.wasm import WasmTarget

# A control with nothing to check on the object (catalog not_on_windows): admitted, and
# said so rather than counted as passed.
NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True)
class Finding:
    file: str
    resource: str
    control: str
    decision: str
    messages: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Subject:
    document: Document
    review: dict[str, Any]


@dataclass
class Collected:
    subjects: list[Subject]
    state: list[Document]
    everything: list[Document]


def collect(paths: Iterable[Path], user: str | None = None) -> Collected:
    """Split the input into objects to decide and cluster state; reject unknown kinds.
    Plain manifests are judged as written by user (default: the harness); an
    AdmissionReview keeps the username it records."""
    docs = (doc for file in find_manifest_files(paths) for doc in load_documents(file))
    return classify(docs, user)


def classify(documents: Iterable[Document], user: str | None = None) -> Collected:
    found = Collected([], [], [])
    for doc in documents:
        review: dict[str, Any] | None
        if doc.kind == ADMISSION_REVIEW:
            body, operation, sub, recorded, old = unwrap_review(doc.body, doc.source)
            doc = Document(body, doc.source, doc.index)
            _require_known(doc)
            review = admission_review(body, operation, sub, user=recorded or user, old=old)
        else:
            _require_known(doc)
            review = admission_review(doc.body, user=user) if doc.kind in REVIEWED else None
        found.everything.append(doc)
        if review is not None and doc.kind in REVIEWED:
            found.subjects.append(Subject(doc, review))
        elif doc.kind in STATE:
            found.state.append(doc)
    return found


def is_windows(subject: Subject) -> bool:
    """A pod-bearing object whose pods run Windows (spec.os.name)."""
    return (pod_spec(subject.document.body).get("os") or {}).get("name") == "windows"


def _require_known(doc: Document) -> None:
    known = doc.kind in REVIEWED or doc.kind in STATE or doc.kind in OTHER_BUILTIN_KINDS
    if not known and not is_custom_resource(doc.body):
        raise HarnessError(
            f"{doc.source}: document {doc.index + 1}: unknown kind {doc.kind} ({doc.body['apiVersion']})"
        )


def decide_objects(
    found: Collected, controls: list[Control], config: dict[str, Any]
) -> list[Finding]:
    """Every reviewed object against every selected admission control."""
    controls = [c for c in controls if "admission" in c.points]
    if not controls or not found.subjects:
        return []
    policy = policy_set(
        [c.entrypoint_at("admission") for c in controls],
        state=cluster_state(d.body for d in found.state),
        config=config,
    )
    findings: list[Finding] = []
    with WasmTarget() as target:
        target.start(policy)
        for subject in found.subjects:
            for control in controls:
                query = control.entrypoint_at("admission")
                decision = target.decide(target.prepare(subject.review, query))
                verdict = decision.verdict
                if verdict == "allow" and control.not_on_windows and is_windows(subject):
                    verdict = NOT_APPLICABLE
                findings.append(
                    Finding(
                        file=str(subject.document.source),
                        resource=subject.document.ref,
                        control=control.id,
                        decision=verdict,
                        messages=list(decision.messages),
                    )
                )
    return findings
