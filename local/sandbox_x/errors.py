"""X's error answers: problem bodies (RFC 7807 as X writes them) and the exception that carries one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response

PROBLEM_BASE = "https://api.x.com/2/problems/"


class XError(Exception):
    """An answer other than success: the route stops and the sandbox sends `body` with `status`."""

    def __init__(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(body.get("detail") or body.get("title"))
        self.status, self.body, self.headers = status, body, dict(headers or {})


def problem(err: XError) -> Response:
    return Response(json.dumps(err.body, ensure_ascii=False), status=err.status, headers=err.headers,
                    content_type="application/problem+json")


def about_blank(status: int, title: str, detail: str | None = None) -> XError:
    return XError(status, {"title": title, "detail": detail or title, "type": "about:blank", "status": status})


def invalid_request(parameter: str, value: str, message: str) -> XError:
    return XError(400, {
        "errors": [{"parameters": {parameter: [value]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEM_BASE + "invalid-request",
        "status": 400,
    })


def unsupported_app_auth() -> XError:
    return XError(403, {
        "title": "Unsupported Authentication",
        "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported "
                  "authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
        "type": PROBLEM_BASE + "unsupported-authentication",
        "status": 403,
    })
