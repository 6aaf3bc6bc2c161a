"""Decision targets, by the name `--target` takes."""

from __future__ import annotations

from collections.abc import Callable

from harness.errors import HarnessError
from harness.targets.base import Decision, Target
from harness.targets.embedded import EmbeddedTarget
from harness.targets.local import LocalTarget
from harness.targets.opa import OpaServerTarget

_FACTORIES: dict[str, Callable[[], Target]] = {
    "embedded": EmbeddedTarget,
    "opa": OpaServerTarget,
    "local": LocalTarget,
}


def target_names() -> list[str]:
    return list(_FACTORIES)


def make_target(name: str) -> Target:
    try:
        return _FACTORIES[name]()
    except KeyError:
        raise HarnessError(
            f"unknown target {name!r} (choose from {', '.join(target_names())})"
        ) from None


__all__ = ["Decision", "Target", "make_target", "target_names"]
