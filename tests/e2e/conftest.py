"""Fixtures of the end-to-end tests: the events of tests/e2e/events, written to their own folders and deployed
into the local cloud with their sandboxes (`relaycast_local.harness.local_stack`)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from relaycast_local.harness import LocalStack, local_stack

EVENTS = Path(__file__).resolve().parent / "events"


@pytest.fixture(scope="session")
def event_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """event_file(name, {old: new, …}): tests/e2e/events/<name>.yaml in a folder of its own, with each `old` of
    its text replaced by `new` (a shorter event, a broken one)."""

    def write(name: str, changes: dict[str, str] | None = None) -> Path:
        text = (EVENTS / f"{name}.yaml").read_text()
        for old, new in (changes or {}).items():
            assert old in text, f"{old!r} is not in {name}.yaml"
            text = text.replace(old, new)
        path = tmp_path_factory.mktemp(name) / "event.yaml"
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def local_event(event_file: Callable[..., Path]) -> Callable[..., AbstractContextManager[LocalStack]]:
    """local_event(name, **options): a context manager yielding the event deployed and served; `options` go to
    `local_stack` (e.g. `lead`, how long before the event the simulated clock starts)."""

    def start(name: str, **options: Any) -> AbstractContextManager[LocalStack]:
        path = event_file(name)
        return local_stack(path, cdk_out=path.parent / "cdk.out", **options)

    return start
