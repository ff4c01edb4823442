"""One rig (moto + the sandbox X + a frozen clock) per module: building it is the expensive part, and every
schedule uses fresh relays and posts on it."""

from collections.abc import Iterator

import pytest

from publish_schedules import Rig


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with Rig() as built:
        yield built
