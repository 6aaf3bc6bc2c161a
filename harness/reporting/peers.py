"""Peers tables from a peers run (peers.json): per peer and control, the deny fixtures
caught and missed (false allows) and the allow fixtures refused (false alarms)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness import paths

PEERS_FILE = "peers.json"

OUTCOMES = {
    ("deny", "deny"): "caught",
    ("deny", "allow"): "missed",
    ("allow", "deny"): "false alarm",
    ("allow", "allow"): "passed",
}
COUNTED = ["caught", "missed", "false alarm", "passed", "unreadable"]


def records_frame(doc: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(
        doc["records"], columns=["peer", "control", "fixture", "expected", "verdict", "checks"]
    )
    frame["outcome"] = [
        OUTCOMES.get((e, v), "unreadable")
        for e, v in zip(frame["expected"], frame["verdict"], strict=True)
    ]
    return frame


def per_control(doc: dict[str, Any]) -> pd.DataFrame:
    """One row per peer and control: fixtures by outcome."""
    frame = records_frame(doc)
    counts = frame.groupby(["peer", "control", "outcome"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=COUNTED, fill_value=0).reset_index()
    counts["agrees"] = (counts["missed"] == 0) & (counts["false alarm"] == 0)
    return counts


def per_peer(doc: dict[str, Any], controls_total: int) -> pd.DataFrame:
    """One row per peer: controls mapped, controls where it agrees with every fixture,
    false allows and false alarms over all mapped fixtures."""
    rows = []
    table = per_control(doc)
    for name, status in doc["peers"].items():
        mine = table[table["peer"] == name]
        rows.append(
            {
                "peer": name,
                "version": status.get("version", status.get("status")),
                "controls mapped": f"{len(mine)}/{controls_total}",
                "agrees on every fixture": int(mine["agrees"].sum()),
                "deny fixtures caught": int(mine["caught"].sum()),
                "false allows": int(mine["missed"].sum()),
                "false alarms": int(mine["false alarm"].sum()),
                "fixtures it cannot read": int(mine["unreadable"].sum()),
            }
        )
    return pd.DataFrame(rows)


def matrix(doc: dict[str, Any], control_ids: list[str]) -> pd.DataFrame:
    """Controls x peers: ✓ agrees on every fixture, ~ some misses or false alarms
    (counted), blank where the peer has no check for the control."""
    table = per_control(doc)
    peers = list(doc["peers"])
    rows = []
    for cid in control_ids:
        row = {"control": cid}
        for peer in peers:
            hit = table[(table["peer"] == peer) & (table["control"] == cid)]
            if hit.empty:
                row[peer] = ""
                continue
            r = hit.iloc[0]
            row[peer] = "✓" if r["agrees"] else f"{r['missed']} missed, {r['false alarm']} false"
        if any(row[p] for p in peers):
            rows.append(row)
    return pd.DataFrame(rows, columns=["control", *peers])


def disagreements(doc: dict[str, Any]) -> pd.DataFrame:
    frame = records_frame(doc)
    wrong = frame[frame["outcome"].isin(["missed", "false alarm"])]
    return wrong[["peer", "control", "fixture", "outcome", "checks"]].reset_index(drop=True)


def reference_peers_file() -> Path:
    return paths.project_root() / "results" / "reference" / "peers" / PEERS_FILE
