"""One YAML file read with the two errors every input file shares, each one line naming
the file: missing (in the caller's words) or malformed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError


def read_yaml(path: Path, missing: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path}: {missing}") from None
    except yaml.YAMLError as exc:
        raise HarnessError(f"{path}: malformed YAML: {' '.join(str(exc).split())}") from None
