"""scenarios/peers.yaml: which checks of each peer correspond to which of our controls.

A peer's controls are listed there, or derived (`derived_from: vap`: each control with a
CEL policy an offline CLI can judge, checked by the policy's own name), so that adding a
control's CEL policy maps it for Kyverno with no second list."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import paths
from harness.errors import HarnessError
from harness.model.catalog import Catalog, load_catalog
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
    # Controls whose verdict is exactly the peer's verdict on their checks (not only
    # related): the differential fuzzer compares these verdict for verdict.
    equal: tuple[str, ...] = ()

    def checks_for(self, control_id: str) -> tuple[str, ...] | None:
        """The peer's checks for a control, or None when it has none (not covered)."""
        return self.controls.get(control_id)


def peers_file() -> Path:
    return paths.scenarios_dir() / "peers.yaml"


def mapping_digest(catalog: Catalog | None = None) -> str:
    """sha256 of the mapping as loaded (derived lists included, comments and layout of
    scenarios/peers.yaml not): a peers run made with another mapping is stale."""
    peers = load_peers(catalog or load_catalog())
    doc = {name: asdict(mapping) for name, mapping in sorted(peers.items())}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def derived_controls(source: str, path: Path, name: str) -> dict[str, Any]:
    """The controls a derived peer checks: for `vap`, each control whose CEL policy an
    offline CLI can judge, by the policy's name."""
    from harness.model.vap import JUDGED_OFFLINE, load_library, policy_name

    if source != "vap":
        raise HarnessError(f"{path}: peer {name}: derived_from is vap, not {source!r}")
    policies = load_library().policies
    return {
        control: [policy_name(policy.package)]
        for control, policy in sorted(policies.items())
        if policy.applies_to in JUDGED_OFFLINE
    }


def load_peers(catalog: Catalog, path: Path | None = None) -> dict[str, PeerMapping]:
    path = path or peers_file()
    doc = read_yaml(path, "the peers mapping file does not exist")
    if not isinstance(doc, dict) or not isinstance(doc.get("peers"), dict):
        raise HarnessError(f"{path}: expected a mapping with a 'peers' key")
    known = {c.id for c in catalog.controls}
    peers = {}
    for name, entry in doc["peers"].items():
        if "derived_from" in entry:
            entry = {**entry, "controls": derived_controls(entry["derived_from"], path, name)}
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
        equal = entry.get("equal") or []
        for what, ids in (("a note", notes), ("equal", equal)):
            stray = set(ids) - set(controls)
            if stray:
                raise HarnessError(f"{path}: peer {name}: {what} for unmapped {sorted(stray)[0]}")
        peers[name] = PeerMapping(
            name, entry["title"], entry["kind"], entry.get("tool"), entry["source"], controls,
            dict(notes), tuple(equal),
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
