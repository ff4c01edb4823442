"""Logger, metrics and tracer, created once per container; tokens never reach them."""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(use_rfc3339=True)
metrics = Metrics(namespace="relaycast")
tracer = Tracer()

# tweepy and urllib3 log request headers (bearer tokens) at debug level: keep them above it.
for noisy in ("tweepy", "urllib3", "authlib", "requests_oauthlib", "oauthlib"):
    logging.getLogger(noisy).setLevel(logging.WARNING)


def bind_service() -> None:
    """Name the running function in logs and metrics.

    In Lambda one function owns the process and Powertools reads its name once; the local runtime runs
    every function in one process, so each invocation names itself again.
    """
    service = os.environ.get("POWERTOOLS_SERVICE_NAME")
    if service:
        logger.append_keys(service=service)
        metrics.service = service
