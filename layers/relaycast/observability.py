"""Logger and metrics, created once per container, and X-Ray subsegments when asked for; tokens never reach them."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice



class _Stdout:
    """The process's stdout at each write, not at import: what captures a function's output (the local
    runtime, a test) captures its log lines too."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


logger = Logger(use_rfc3339=True, stream=_Stdout())
metrics = Metrics(namespace="relaycast")

# tweepy and urllib3 log request headers (bearer tokens) at debug level: keep them above it.
for noisy in ("tweepy", "urllib3", "authlib", "requests_oauthlib", "oauthlib"):
    logging.getLogger(noisy).setLevel(logging.WARNING)


def traced(handler: Callable[[dict, Any], Any]) -> Callable[[dict, Any], Any]:
    """The handler under Powertools' tracer (a subsegment per invocation, the AWS and HTTP calls patched) when the
    function runs in Lambda with `POWERTOOLS_TRACE_DISABLED` false; else the handler itself.

    Lambda's active tracing records every invocation without the X-Ray SDK, whose import alone costs a cold start
    about as much as boto3's: the stack leaves it off, and a function whose calls must be traced turns it on.
    """
    disabled = resolve_truthy_env_var_choice(env=os.environ.get("POWERTOOLS_TRACE_DISABLED", "false"))
    if disabled or not os.environ.get("LAMBDA_TASK_ROOT"):
        return handler
    from aws_lambda_powertools import Tracer  # the X-Ray SDK loads here, only for a traced function

    return Tracer().capture_lambda_handler(handler)


def bind_service() -> None:
    """Name the running function in logs and metrics.

    In Lambda one function owns the process and Powertools reads its name once; the local runtime runs
    every function in one process, so each invocation names itself again.
    """
    service = os.environ.get("POWERTOOLS_SERVICE_NAME")
    if service:
        logger.append_keys(service=service)
        metrics.service = service
