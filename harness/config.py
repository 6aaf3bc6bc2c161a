"""The admin-owned configuration document (data.config in the policy engine)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from harness import paths
from harness.errors import HarnessError

KNOWN_KEYS = {
    "trusted_registries",
    "image_scanner",
    "sandbox_runtime_classes",
    "exemptions",
    "rbac_allowlist",
}


def load_config(override: Path | None = None) -> dict[str, Any]:
    """The default document with the user's file merged over it (maps merge, lists replace)."""
    config = _read(paths.default_config_file())
    if override is not None:
        config = _merge(config, _read(override))
    return config


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise HarnessError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise HarnessError(f"{path}: malformed YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict):
        raise HarnessError(f"{path}: the config must be a mapping")
    unknown = set(doc) - KNOWN_KEYS
    if unknown:
        raise HarnessError(f"{path}: unknown config key(s) {', '.join(sorted(unknown))}")
    exemptions = doc.get("exemptions", {})
    if not isinstance(exemptions, dict) or not all(
        isinstance(v, list) for v in exemptions.values()
    ):
        raise HarnessError(f"{path}: exemptions must map control ids to lists of namespaces")
    return doc


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
