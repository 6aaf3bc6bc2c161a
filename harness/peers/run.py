"""One peers run: every mapped control's fixtures through every peer available, written
as tidy records (peers.json) that harness.reporting.peers summarises."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.infra import tools
from harness.model import inputs
from harness.model.catalog import Control
from harness.model.config import load_config
from harness.model.fixtures import Fixture, FixtureSet
from harness.model.peers import PeerMapping, fired_for, mapping_digest
from harness.model.policies import PolicySet
from harness.peers import kyverno, psa, scanners
from harness.reporting.peers import PEERS_FILE
from harness.reporting.results import commit, machine, now

PSA = "psa"
# Peers that read the fixture files offline, by name.
ADAPTERS = {**scanners.SCANNERS, "kyverno": kyverno.kyverno}


@dataclass
class PeersRun:
    peers: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> status, version
    records: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        # inputs at the top, like mutation.json and the fuzz summary, for staleness checks
        return {
            "inputs": self.meta.get("inputs"),
            "meta": self.meta,
            "peers": self.peers,
            "records": self.records,
        }


def readable(peer: PeerMapping, fixture: Fixture) -> bool:
    if peer.name == PSA:
        return psa.decidable(fixture)
    return scanners.scannable(fixture)


def ask(peer: PeerMapping, fixtures: list[Fixture], policy: PolicySet) -> scanners.Fired:
    """The checks the peer fired per fixture (only fixtures it can read)."""
    if peer.name == PSA:
        return psa.pod_security_admission(policy, fixtures)
    scan = ADAPTERS.get(peer.name)
    if scan is None:
        raise HarnessError(f"scenarios/peers.yaml: no adapter for peer {peer.name}")
    if peer.tool is None:
        raise HarnessError(f"scenarios/peers.yaml: peer {peer.name} names no tool")
    return scan(tools.require(peer.tool), fixtures)


def run_peers(
    peers: dict[str, PeerMapping],
    controls: list[Control],
    fixture_set: FixtureSet,
    policy: PolicySet,
    log: Callable[[str], None] = print,
) -> PeersRun:
    """Each peer on the fixtures of the controls it maps. A peer whose tool is missing or
    that fails is reported in its status; the others still run. On Ctrl-C the peers that
    finished are kept and meta.complete is False."""
    run = PeersRun(meta={**_meta(), "complete": True})
    started = time.monotonic()
    try:
        _ask_each(run, peers, controls, fixture_set, policy, log)
    except KeyboardInterrupt:
        run.meta["complete"] = False
    run.meta.update(finished=now(), wall_seconds=round(time.monotonic() - started, 3))
    return run


def _ask_each(
    run: PeersRun,
    peers: dict[str, PeerMapping],
    controls: list[Control],
    fixture_set: FixtureSet,
    policy: PolicySet,
    log: Callable[[str], None],
) -> None:
    for peer in peers.values():
        mine = [c for c in controls if peer.checks_for(c.id) is not None]
        fixtures = {f.id: f for c in mine for f in fixture_set.by_control[c.id]}
        wanted = [f for f in fixtures.values() if readable(peer, f)]
        log(f"{peer.name}: {len(mine)} controls, {len(wanted)} fixtures it can read")
        try:
            fired = ask(peer, wanted, policy)
        except HarnessError as exc:
            run.peers[peer.name] = {"status": "failed", "reason": str(exc)}
            log(f"{peer.name}: {exc}")
            continue
        run.peers[peer.name] = {"status": "ran", "version": _version(peer)}
        for control in mine:
            for fixture in fixture_set.by_control[control.id]:
                run.records.append(_record(peer, control, fixture, fired.get(fixture.id)))


def _record(
    peer: PeerMapping, control: Control, fixture: Fixture, fired: set[str] | None
) -> dict[str, Any]:
    row = {
        "peer": peer.name,
        "control": control.id,
        "fixture": fixture.id,
        "expected": fixture.expect,
    }
    if fired is None:
        return {**row, "verdict": "unreadable", "checks": []}
    matched = fired_for(peer, control.id, fired) or []
    return {**row, "verdict": "deny" if matched else "allow", "checks": matched}


def _version(peer: PeerMapping) -> str:
    if peer.tool is None:  # built into kube-apiserver
        return f"kube-apiserver {tools.get_tool('kube-apiserver').version}"
    return tools.get_tool(peer.tool).version


def _meta() -> dict[str, Any]:
    return {
        "started": now(),
        "commit": commit(),
        "machine": machine(),
        "inputs": inputs.digest(load_config()),
        "peers_mapping": mapping_digest(),
    }


def write(run: PeersRun, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PEERS_FILE
    path.write_text(json.dumps(run.to_json(), indent=1, ensure_ascii=False) + "\n")
    return path
