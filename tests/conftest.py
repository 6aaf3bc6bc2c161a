"""Shared fixtures: the catalog, the fixture set and one compiled embedded target."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.catalog import Catalog, load_catalog
from harness.config import load_config
from harness.fixtures import FixtureSet, load_fixtures
from harness.policies import COMBINED_QUERY, PolicySet, load_modules
from harness.targets.embedded import EmbeddedTarget

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def fixture_set(catalog: Catalog) -> FixtureSet:
    return load_fixtures(catalog.with_policy)


@pytest.fixture(scope="session")
def policy_set(catalog: Catalog, fixture_set: FixtureSet) -> PolicySet:
    return PolicySet(
        modules=load_modules(),
        config=load_config(),
        state=fixture_set.state(),
        queries=[c.entrypoint for c in catalog.with_policy] + [COMBINED_QUERY],
    )


@pytest.fixture(scope="session")
def embedded(policy_set: PolicySet):
    target = EmbeddedTarget()
    target.start(policy_set)
    yield target
    target.close()
