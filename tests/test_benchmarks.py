"""Latency benchmarks (pytest-benchmark). Skipped in the normal test run; run with
`python -m pytest tests/test_benchmarks.py --benchmark-only`. Speed targets live here,
never as timed assertions in tests."""

from __future__ import annotations

import pytest

from harness.model.policies import COMBINED_QUERY


def _fixture(fixture_set, control_id, stem):
    return next(f for f in fixture_set.by_control[control_id] if f.path.stem == stem)


@pytest.mark.benchmark(group="embedded")
@pytest.mark.parametrize(
    ("control_id", "entrypoint", "stem"),
    [
        ("NSA-1.1", "controls/nsa_1_1/deny", "init-container-root"),
        ("NSA-1.4", "controls/nsa_1_4/deny", "baseline-only-pod"),
        ("NSA-2.3", "controls/nsa_2_3/deny", "quota-without-limits"),
    ],
)
def test_embedded_single_policy(benchmark, embedded, fixture_set, control_id, entrypoint, stem):
    prepared = embedded.prepare(_fixture(fixture_set, control_id, stem).input, entrypoint)
    decision = benchmark(embedded.decide, prepared)
    assert not decision.allowed


@pytest.mark.benchmark(group="embedded")
def test_embedded_all_policies_combined(benchmark, embedded, fixture_set):
    prepared = embedded.prepare(
        _fixture(fixture_set, "NSA-1.4", "baseline-only-pod").input, COMBINED_QUERY
    )
    decision = benchmark(embedded.decide, prepared)
    assert not decision.allowed
