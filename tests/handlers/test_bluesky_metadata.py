"""The documents Bluesky's authorization servers fetch from the hosted app: the client metadata at relaycast's
`client_id` URL and the public keys of the stack's ES256 key. Public halves only; nothing without a key."""

import json

import boto3
import pytest
from chalice.test import Client
from handler_support import load_function
from jwskate import Jwk

from relaycast.networks.bluesky import SCOPE, new_client_key
from relaycast.settings import reset_caches

HOSTED = "https://api.execute-api.eu-west-3.amazonaws.com/live/"


@pytest.fixture
def client(stack_env, monkeypatch):
    monkeypatch.setenv("HOSTED_PAGE_URL", HOSTED)
    with Client(load_function("oauth", "app").app) as test_client:
        yield test_client


def with_key(stack_env) -> dict:
    secrets = boto3.client("secretsmanager")
    (name,) = [s["Name"] for s in secrets.list_secrets()["SecretList"]]
    secret = json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])
    key = new_client_key()
    secrets.put_secret_value(SecretId=name, SecretString=json.dumps({**secret, "bluesky_client_key": key}))
    reset_caches()
    return json.loads(key)


def test_the_client_metadata_names_its_own_url_and_the_atproto_profile(stack_env, client):
    key = with_key(stack_env)
    answer = client.http.get("/bluesky/client-metadata.json")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    metadata = json.loads(answer.body)
    assert metadata["client_id"] == f"{HOSTED}bluesky/client-metadata.json"  # the URL it was fetched from
    assert metadata["redirect_uris"] == [f"{HOSTED}callback/bluesky"] and metadata["scope"] == SCOPE
    assert metadata["dpop_bound_access_tokens"] is True and metadata["token_endpoint_auth_method"] == "private_key_jwt"
    assert metadata["token_endpoint_auth_signing_alg"] == "ES256" and metadata["application_type"] == "web"
    (published,) = metadata["jwks"]["keys"]
    assert "d" not in published and published["kid"] == key["kid"] and Jwk(published).thumbprint() == Jwk(key).thumbprint()
    assert key["d"] not in answer.body.decode()


def test_the_jwks_publishes_the_public_key_only(stack_env, client):
    key = with_key(stack_env)
    answer = client.http.get("/bluesky/jwks.json")
    (published,) = json.loads(answer.body)["keys"]
    assert answer.status_code == 200 and set(published) >= {"kty", "crv", "x", "y", "kid"} and "d" not in published
    assert key["d"] not in answer.body.decode()


def test_without_a_key_in_the_app_secret_bluesky_is_not_offered(stack_env, client):
    for path in ("/bluesky/client-metadata.json", "/bluesky/jwks.json"):
        answer = client.http.get(path)
        assert answer.status_code == 404 and "Bluesky is not offered" in answer.body.decode()
