"""AWS clients, created on first use and reused while the endpoint stays the same.

Keyed by endpoint and region so the local runtime and tests, which start a new moto server per run,
never talk to a stale one; in Lambda the key never changes and each client is built once per container.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


@lru_cache(maxsize=32)
def _client(service: str, endpoint: str | None, region: str | None) -> Any:
    return boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint, config=_CONFIG)


def client(service: str) -> Any:
    return _client(service, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))


@lru_cache(maxsize=32)
def _table(name: str, endpoint: str | None, region: str | None) -> Any:
    return boto3.session.Session().resource("dynamodb", region_name=region, endpoint_url=endpoint, config=_CONFIG).Table(name)


def table(name: str) -> Any:
    return _table(name, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
