"""The one clock of relaycast.

Every piece of the domain package reads the time through `now()`, so the local runtime can run a
two-day event in two minutes and tests can stand at any instant. Nothing calls `time.time()` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def now() -> datetime:
    """The current instant, timezone-aware (UTC)."""
    return _source() if _source is not None else datetime.now(UTC)


def epoch() -> int:
    """The current instant as whole seconds since the epoch (DynamoDB TTL's unit)."""
    return int(now().timestamp())


def use(source: Callable[[], datetime] | None) -> None:
    """Replace the clock (local runtime, tests); `None` restores the wall clock."""
    global _source
    _source = source
