"""One rig (moto + the sandbox X + a frozen clock) per module: building it is the expensive part, and every
schedule uses fresh relays and posts on it."""

from collections.abc import Iterator

import pytest

from publish_schedules import Rig
from relay_journeys import JourneyRig


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with Rig() as built:
        yield built


@pytest.fixture(scope="module")
def journeys() -> Iterator[JourneyRig]:
    with JourneyRig() as built:
        yield built
