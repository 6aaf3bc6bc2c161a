"""The policy library on disk and what an engine needs to load it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import paths
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.model.catalog import Control

COMBINED_QUERY = "admission/deny"
NODE_COMBINED_QUERY = "nodecheck/deny"
# Per enforcement point: the label of its combined records and the query that unions
# every control of that point (thesis figures 6.29 and 6.28).
COMBINED = {"admission": ("ALL", COMBINED_QUERY), "node": ("ALL-NODE", NODE_COMBINED_QUERY)}


def combined_queries(enforcement_points: Iterable[str]) -> list[str]:
    return [COMBINED[p][1] for p in dict.fromkeys(enforcement_points) if p in COMBINED]


def queries_for(controls: Iterable[Control]) -> list[str]:
    """Every query a run of controls asks: each control's deny rule, then the combined
    query of each enforcement point among them."""
    controls = list(controls)
    entrypoints = [e for c in controls for e in c.entrypoints]
    return entrypoints + combined_queries(p for c in controls for p in c.points)


@dataclass(frozen=True)
class RegoModule:
    path: Path
    source: str

    @property
    def name(self) -> str:
        return str(self.path)


@dataclass
class PolicySet:
    """Modules, data (config + cluster state) and the queries a target must answer."""

    modules: list[RegoModule]
    config: dict[str, Any]
    state: dict[str, Any]
    queries: list[str] = field(default_factory=list)
    root: Path = field(default_factory=paths.policies_dir)

    @property
    def data(self) -> dict[str, Any]:
        return {"config": self.config, "kubernetes": self.state}


def policy_set(
    queries: Iterable[str],
    state: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    modules: list[RegoModule] | None = None,
) -> PolicySet:
    """The one way a PolicySet is made: every policy module (or those given), the admin
    config (default: scenarios/config/default.yaml as load_config merges it), the cluster
    state (default: none) and the queries a target must answer."""
    from harness.model.config import load_config

    return PolicySet(
        modules=load_modules() if modules is None else modules,
        config=load_config() if config is None else config,
        state=state or {},
        queries=list(queries),
    )


def load_modules(root: Path | None = None, include_tests: bool = False) -> list[RegoModule]:
    root = root or paths.policies_dir()
    if not root.is_dir():
        raise HarnessError(f"{root}: policy directory not found")
    files = sorted(root.rglob("*.rego"))
    if not include_tests:
        files = [f for f in files if not f.name.endswith("_test.rego")]
    if not files:
        raise HarnessError(f"{root}: no Rego modules found")
    return [RegoModule(f, f.read_text(encoding="utf-8")) for f in files]
