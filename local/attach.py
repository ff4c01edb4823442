"""A local event the other `relaycast` commands can reach: `relaycast deploy --local` runs the event in the local
runtime and keeps `build/local/<slug>.json` up to date (where its moto listens, its stack, its hosted page, the
event's simulated time); `relaycast status --local` and `relaycast report --local` read it and point boto3 and
relaycast's clock there, then run the same code as against AWS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from relaycast import clock

from . import ROOT

STATE_DIR = ROOT / "build" / "local"


class NotRunning(RuntimeError):
    """No local event of that slug is running."""


def state_path(slug: str) -> Path:
    return STATE_DIR / f"{slug}.json"


def write_state(slug: str, **state: Any) -> None:
    """Whole or absent: a reader never sees half a file."""
    path = state_path(slug)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(state, default=str) + "\n")
    partial.replace(path)


def remove_state(slug: str) -> None:
    state_path(slug).unlink(missing_ok=True)


def read_state(slug: str, event: str) -> dict[str, Any]:
    """The running local event's state; NotRunning (with what to do) when there is none or it stopped."""
    hint = f"no local event of {slug} is running: start it with relaycast deploy --local {event}"
    try:
        state = json.loads(state_path(slug).read_text())
    except (OSError, ValueError):
        raise NotRunning(hint) from None
    try:
        requests.get(f"{state['endpoint']}/moto-api/", timeout=3)
    except (requests.RequestException, KeyError):
        raise NotRunning(hint + " (the last one stopped)") from None
    return state


@contextmanager
def attached(state: dict[str, Any]) -> Iterator[None]:
    """boto3 pointed at the local event's moto, and relaycast's clock at its simulated time, for the block."""
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE")}
    for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(key, None)
    os.environ.update(AWS_ENDPOINT_URL=state["endpoint"], AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local",
                      AWS_DEFAULT_REGION=state["region"], AWS_REGION=state["region"])
    at = datetime.fromisoformat(state["now"])
    clock.use(lambda: at)
    try:
        yield
    finally:
        clock.use(None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
