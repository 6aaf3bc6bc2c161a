"""Where the policy library, scenarios and tool cache live.

A source checkout (editable install) uses the repository's policies/ and scenarios/;
a wheel install uses the copies bundled under harness/_assets. PAC_HARNESS_HOME
overrides both, so a user can point the harness at their own policy library.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

_PACKAGE = Path(__file__).resolve().parent


def project_root() -> Path:
    """The directory that holds policies/ and scenarios/."""
    override = os.environ.get("PAC_HARNESS_HOME")
    if override:
        return Path(override).resolve()
    checkout = _PACKAGE.parent
    if (checkout / "policies").is_dir() and (checkout / "scenarios").is_dir():
        return checkout
    return _PACKAGE / "_assets"


def policies_dir() -> Path:
    return project_root() / "policies"


def scenarios_dir() -> Path:
    return project_root() / "scenarios"


def catalog_file() -> Path:
    return scenarios_dir() / "catalog.yaml"


def fixtures_dir() -> Path:
    return scenarios_dir() / "fixtures"


def default_config_file() -> Path:
    return scenarios_dir() / "config" / "default.yaml"


def cache_dir() -> Path:
    """Per-user cache for tools built from source; outside any checkout so clones share it."""
    override = os.environ.get("PAC_HARNESS_CACHE")
    if override:
        return Path(override).expanduser().resolve()
    return Path(platformdirs.user_cache_dir("pac-harness"))


def default_runs_dir() -> Path:
    return Path("results") / "runs"
