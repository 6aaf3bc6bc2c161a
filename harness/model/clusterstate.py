"""A whole cluster's objects as one document, the input of the audit policies.

Fixtures describe it as a `ClusterState` document (pac-harness.io/v1) listing objects;
`harness audit` builds the same shape from a directory of manifests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.model.defaulting import admitted

CLUSTER_STATE = "ClusterState"


def snapshot(objects: Iterable[dict[str, Any]]) -> dict[str, Any]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for body in objects:
        grouped.setdefault(body["kind"], []).append(admitted(body))
    return {"objects": grouped}
