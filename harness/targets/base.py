"""The one interface every decision target implements.

Replay, recording and reporting only see this: an embedded engine, an OPA server over
HTTPS or a real API server differ in start() and decide(), nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Self

from harness.errors import TargetError
from harness.model.fixtures import Fixture
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


@dataclass(frozen=True)
class Series:
    """A mode of the replay beyond the policies themselves: the records' mode column.

    Every case is prepared once per mechanism; each iteration then decides it through
    every mechanism in turn, the order shifting by one per iteration, so that paired
    measurements share their moment and drift hits all mechanisms alike."""

    mode: str
    # What it measures, said in the log before it starts (it can take minutes).
    label: str
    mechanisms: tuple[str, ...]
    # "control": every fixture of every control (as the replay); "fixture": each
    # fixture once, under the first control that has it; "bench": one allow and one
    # deny fixture per control and one per combined query.
    cases: str = "control"
    # Iterations per case: None for the plan's.
    iterations: int | None = None
    # Warm-up decisions first (the plan's count); a one-off comparison needs none.
    warmup: bool = True
    # The engine times itself (engine_bench): one row per case in a table of this name.
    engine_table: str | None = None


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

    # The mechanism judging the next decision; recorded beside each timed decision.
    # A target that can put several mechanisms in the path switches with select().
    mechanism: str = "policy"

    def select(self, mechanism: str) -> None:
        """Make mechanism judge the following decisions (cheap: the replay calls it
        between timed decisions, never inside one)."""
        if mechanism != self.mechanism:
            raise TargetError(f"{self.name}: no mechanism {mechanism!r} to select")

    def series(self) -> list[Series]:
        """Further modes the replay measures after the policies (a baseline, mechanisms
        side by side, an engine's own benchmark), in order."""
        return []

    def enter(self, series: Series) -> None:  # noqa: B027 - optional
        """Set the target up for series (remove a webhook, label a namespace); untimed."""

    def prepare_series(self, series: Series, fixture: Fixture, query: str) -> Any:
        """What decide() sends for fixture in series (the policies' own included) under
        the selected mechanism; SkipFixture where the series has nothing to say about
        it."""
        return self.prepare(fixture.input, query)

    def engine_bench(self, review: dict[str, Any], query: str) -> dict[str, Any]:
        """The engine's own timing of one decision, for a series with engine_timed."""
        raise TargetError(f"{self.name}: the engine reports no timing of its own")

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Engine name and version for run.json."""

    def close(self) -> None:  # noqa: B027 - targets without resources need no cleanup
        """Release processes and connections; safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
