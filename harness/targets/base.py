"""The one interface every decision target implements.

Replay, recording and reporting only see this: an embedded engine, an OPA server over
HTTPS or a real API server differ in start() and decide(), nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Self

from harness.model.policies import PolicySet


class SkipFixture(Exception):
    """A target cannot replay this fixture; the run records that, never silently."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    messages: tuple[str, ...]
    # Evaluation time the engine itself reports (OPA's server timing), when it has one.
    engine_ns: int | None = None
    # False when the mechanism reports only its first violation (a ValidatingAdmission-
    # Policy stops at the first failed validation): then only the verdict can be judged.
    all_messages: bool = True

    @property
    def verdict(self) -> str:
        return "allow" if self.allowed else "deny"


class Target(ABC):
    name: str = ""

    @abstractmethod
    def start(self, policy: PolicySet) -> None:
        """Load and compile policies and data; nothing here is timed."""

    def prepare(self, review: dict[str, Any], query: str) -> Any:
        """Turn a request into what decide() sends, outside the timed section."""
        return (review, query)

    @abstractmethod
    def decide(self, prepared: Any) -> Decision:
        """One admission decision; the replay loop times exactly this call."""

    def settle(self, prepared: Any, decision: Decision) -> None:  # noqa: B027 - optional
        """Undo what a decision left behind (an object really created), untimed."""

    # What supplementary() measures, said before it starts (it can take minutes).
    supplementary_label = ""

    def supplementary(self, plan: Any) -> dict[str, Any]:
        """Extra measurements a target can take after the replay, saved as <name>.json."""
        return {}

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Engine name and version for run.json."""

    def close(self) -> None:  # noqa: B027 - targets without resources need no cleanup
        """Release processes and connections; safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
