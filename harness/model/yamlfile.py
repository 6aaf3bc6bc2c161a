"""One YAML file read with the two errors every input file shares, each one line naming
the file: missing (in the caller's words) or malformed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from harness.errors import HarnessError

# libyaml's parser with PyYAML's safe constructors: the same documents, parsed about ten
# times faster. Reading the catalog with the pure-Python parser took 200 ms of every
# `node-check` process, more than the checks themselves. A PyYAML built without libyaml
# has no CSafeLoader and gets its pure-Python SafeLoader, which has the same constructors
# and resolver; mypy checks against the libyaml class (a variable cannot be a base class).
if TYPE_CHECKING:
    SafeLoader = yaml.CSafeLoader
else:
    SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    return yaml.load(text, Loader=SafeLoader)


def load_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=SafeLoader))


def read_yaml(path: Path, missing: str) -> Any:
    try:
        return load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path}: {missing}") from None
    except yaml.YAMLError as exc:
        raise HarnessError(f"{path}: malformed YAML: {' '.join(str(exc).split())}") from None
