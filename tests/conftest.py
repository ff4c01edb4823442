"""Fixtures shared across the test folders: a started sandbox Bluesky, and relaycast's clock set to an instant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from relaycast import clock


@pytest.fixture
def bsky() -> Iterator:
    from relaycast_local.sandbox_bluesky import SandboxBluesky

    with SandboxBluesky() as sandbox:
        yield sandbox


@pytest.fixture
def event_clock() -> Iterator[list[datetime]]:
    """relaycast's clock reads `event_clock[0]` (set it to move time)."""
    now = [datetime(2026, 12, 4, 10, 0, tzinfo=UTC)]
    clock.use(lambda: now[0])
    try:
        yield now
    finally:
        clock.use(None)
