"""Typed settings of a function, parsed from its environment when the handler runs (never at import)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, ConfigDict

from relaycast import aws
from relaycast.config import EventConfig, event_config_from_json


class AppSecret(BaseModel):
    """The organiser's X app credentials and the key that signs relay links (Secrets Manager)."""

    model_config = ConfigDict(frozen=True)

    x_client_id: str
    x_client_secret: str
    x_bearer_token: str
    signing_key: str
    # The stack's own ES256 key (a private JWK, JSON) with which relaycast authenticates to Bluesky's servers
    # (`private_key_jwt`); its public half is published at /bluesky/jwks.json. Absent: Bluesky is not offered.
    bluesky_client_key: str | None = None
    # The event's own Bluesky account, which reads the tags (search needs a signed-in account): its handle or
    # DID and an app password (never the account's main password).
    bluesky_identifier: str | None = None
    bluesky_app_password: str | None = None
    # The organiser's LinkedIn app (Share on LinkedIn and Sign In with LinkedIn products).
    linkedin_client_id: str | None = None
    linkedin_client_secret: str | None = None

    def __repr__(self) -> str:  # never print secrets, even by accident
        return "AppSecret(***)"

    __str__ = __repr__


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str
    token_key_id: str
    event_config_parameter: str
    app_secret_name: str
    publish_queue_url: str | None = None
    propose_queue_url: str | None = None
    end_grant_queue_url: str | None = None
    x_api_base: str = "https://api.x.com"
    x_authorize_url: str = "https://x.com/i/oauth2/authorize"
    # Bluesky's entryway (where the event's account signs in and searches) and its PLC directory.
    bluesky_service: str = "https://bsky.social"
    bluesky_plc: str = "https://plc.directory"
    linkedin_oauth_base: str = "https://www.linkedin.com"
    linkedin_api_base: str = "https://api.linkedin.com"
    # The hosted page's public URL (API Gateway's stage URL): every link relaycast builds starts with it.
    hosted_page_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        fields = {name: environ[name.upper()] for name in cls.model_fields if name.upper() in environ}
        return cls.model_validate(fields)

    def event(self) -> EventConfig:
        return _event_config(self.event_config_parameter, os.environ.get("AWS_ENDPOINT_URL"))

    def secret(self) -> AppSecret:
        # Cached for five minutes: the organiser stores the secret after deploy and may rotate it.
        raw = _secrets(os.environ.get("AWS_ENDPOINT_URL")).get(self.app_secret_name, max_age=300)
        return AppSecret.model_validate(json.loads(raw))


@lru_cache(maxsize=8)
def _event_config(name: str, endpoint: str | None) -> EventConfig:
    # The config is fixed for the life of a stack: read it once per container.
    raw = aws.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    return event_config_from_json(raw)


@lru_cache(maxsize=8)
def _secrets(endpoint: str | None) -> parameters.SecretsProvider:
    return parameters.SecretsProvider(boto3_client=aws.client("secretsmanager"))


def reset_caches() -> None:
    """Forget cached config and secrets (the local runtime and tests start new stacks in one process)."""
    _event_config.cache_clear()
    _secrets.cache_clear()
    parameters.clear_caches()
