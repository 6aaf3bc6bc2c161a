"""scenarios/peers.yaml: which checks of each peer correspond to which of our controls."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from harness import paths
from harness.errors import HarnessError
from harness.model.catalog import Catalog
from harness.model.yamlfile import read_yaml

ANY_CHECK = "*"  # every check the peer fires counts (PSA restricted as a whole: NSA-1.4)


@dataclass(frozen=True)
class PeerMapping:
    name: str
    title: str
    kind: str  # "admission" (decides at admission) or "scanner" (reads manifests)
    tool: str | None  # harness tool name, None for a peer built into kube-apiserver
    source: str  # where the check ids and their meaning come from
    controls: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # control id -> why this mapping

    def checks_for(self, control_id: str) -> tuple[str, ...] | None:
        """The peer's checks for a control, or None when it has none (not covered)."""
        return self.controls.get(control_id)


def peers_file() -> Path:
    return paths.scenarios_dir() / "peers.yaml"


def mapping_digest() -> str:
    """sha256 of scenarios/peers.yaml: a peers run made with another mapping is stale."""
    return hashlib.sha256(peers_file().read_bytes()).hexdigest()


def load_peers(catalog: Catalog, path: Path | None = None) -> dict[str, PeerMapping]:
    path = path or peers_file()
    doc = read_yaml(path, "the peers mapping file does not exist")
    if not isinstance(doc, dict) or not isinstance(doc.get("peers"), dict):
        raise HarnessError(f"{path}: expected a mapping with a 'peers' key")
    known = {c.id for c in catalog.controls}
    peers = {}
    for name, entry in doc["peers"].items():
        for key in ("title", "kind", "source", "controls"):
            if key not in entry:
                raise HarnessError(f"{path}: peer {name} needs {key}")
        if entry["kind"] not in ("admission", "scanner"):
            raise HarnessError(f"{path}: peer {name}: kind is admission or scanner")
        controls = {}
        for control_id, checks in entry["controls"].items():
            if control_id not in known:
                raise HarnessError(f"{path}: peer {name}: unknown control id {control_id}")
            if not (
                isinstance(checks, list) and checks and all(isinstance(c, str) for c in checks)
            ):
                raise HarnessError(f"{path}: peer {name}: {control_id} needs a list of check ids")
            controls[control_id] = tuple(checks)
        notes = entry.get("notes") or {}
        stray = set(notes) - set(controls)
        if stray:
            raise HarnessError(f"{path}: peer {name}: a note for unmapped {sorted(stray)[0]}")
        peers[name] = PeerMapping(
            name, entry["title"], entry["kind"], entry.get("tool"), entry["source"], controls,
            dict(notes),
        )  # fmt: skip
    return peers


def fired_for(mapping: PeerMapping, control_id: str, fired: set[str]) -> list[str] | None:
    """The mapped checks among those the peer fired; None when the control is not covered."""
    checks = mapping.checks_for(control_id)
    if checks is None:
        return None
    if ANY_CHECK in checks:
        return sorted(fired)
    return sorted(fired & set(checks))
