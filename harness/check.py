"""Offline check of a user's manifests against the RD policies, like conftest.

Namespace, NetworkPolicy, ResourceQuota and LimitRange documents in the input form the
cluster state the policies consult; pod-bearing objects (or AdmissionReviews) are
decided, each against every selected control.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.catalog import Control
from harness.errors import HarnessError
from harness.manifests import (
    ADMISSION_REVIEW,
    OTHER_BUILTIN_KINDS,
    POD_BEARING,
    STATE,
    Document,
    admission_review,
    cluster_state,
    find_manifest_files,
    is_custom_resource,
    load_documents,
    unwrap_review,
)
from harness.policies import PolicySet, load_modules
from harness.targets.embedded import EmbeddedTarget


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


def collect(paths: Iterable[Path]) -> tuple[list[Subject], list[Document]]:
    """Split the input into objects to decide and cluster state; reject unknown kinds."""
    subjects: list[Subject] = []
    state: list[Document] = []
    for file in find_manifest_files(paths):
        for doc in load_documents(file):
            if doc.kind == ADMISSION_REVIEW:
                body, operation, sub = unwrap_review(doc.body, file)
                inner = Document(body, file, doc.index)
                _require_known(inner)
                if inner.kind in POD_BEARING:
                    subjects.append(Subject(inner, admission_review(body, operation, sub)))
            elif doc.kind in POD_BEARING:
                subjects.append(Subject(doc, admission_review(doc.body)))
            elif doc.kind in STATE:
                state.append(doc)
            else:
                _require_known(doc)
    return subjects, state


def _require_known(doc: Document) -> None:
    known = doc.kind in POD_BEARING or doc.kind in STATE or doc.kind in OTHER_BUILTIN_KINDS
    if not known and not is_custom_resource(doc.body):
        raise HarnessError(
            f"{doc.source}: document {doc.index + 1}: unknown kind {doc.kind} ({doc.body['apiVersion']})"
        )


def check(paths: Iterable[Path], controls: list[Control], config: dict[str, Any]) -> list[Finding]:
    subjects, state = collect(paths)
    controls = [c for c in controls if c.has_policy]
    policy = PolicySet(
        modules=load_modules(),
        config=config,
        state=cluster_state(d.body for d in state),
        queries=[c.entrypoint for c in controls],
    )
    findings: list[Finding] = []
    with EmbeddedTarget() as target:
        target.start(policy)
        for subject in subjects:
            for control in controls:
                decision = target.decide(target.prepare(subject.review, control.entrypoint))
                findings.append(
                    Finding(
                        file=str(subject.document.source),
                        resource=subject.document.ref,
                        control=control.id,
                        decision=decision.verdict,
                        messages=list(decision.messages),
                    )
                )
    return findings
