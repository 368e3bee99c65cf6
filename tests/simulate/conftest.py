"""A short, busy slice of the default scenario: fast enough for every test."""

from __future__ import annotations

from datetime import timedelta

import pytest

from autoassign.simulate import Scenario, default_scenario


@pytest.fixture(scope="session")
def short() -> Scenario:
    """Two hours of the default team, from 09:00 (the busiest hours)."""
    scenario = default_scenario()
    return scenario.with_changes(
        start=scenario.start + timedelta(hours=9), duration_minutes=120
    )
