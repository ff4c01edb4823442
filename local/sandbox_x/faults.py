"""The answer of an injected fault, as X would give it (queued with `SandboxX.fail_next`)."""

from __future__ import annotations

from datetime import timedelta

from flask import Response

from relaycast import clock
from relaycast_local.sandbox_common import Fault
from relaycast_local.sandbox_x.errors import about_blank, problem

_TITLES = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


def fault_response(fault: Fault) -> Response:
    """An about:blank problem with the fault's status; a 429 carries X's rate-limit headers, its reset
    `reset_at` or by default 15 minutes from now."""
    err = about_blank(fault.status, _TITLES.get(fault.status, "Error"))
    if fault.status == 429:
        reset = fault.reset_at or int((clock.now() + timedelta(minutes=15)).timestamp())
        err.headers.update({"x-rate-limit-limit": "0", "x-rate-limit-remaining": "0",
                            "x-rate-limit-reset": str(reset)})
    return problem(err)
