"""What Bluesky's authorization servers read of relaycast: the client metadata document (its URL is relaycast's
`client_id`) and the public keys relaycast signs its client assertions with. Public halves only."""

import json

from chalice import Blueprint, Response

from chalicelib.web import Visit, route
from relaycast.errors import NotFound

# relaycast.networks.bluesky loads in these views only: the hosted page's cold start never pays for it.
blueprint = Blueprint(__name__)


def _json(body: dict) -> Response:
    # 200 exactly, JSON, no redirect: what the AT Protocol requires of a client metadata document.
    return Response(body=json.dumps(body), status_code=200,
                    headers={"Content-Type": "application/json", "Cache-Control": "public, max-age=300"})


def _client_key(visit: Visit) -> str:
    key = visit.settings.secret().bluesky_client_key
    if not key:
        raise NotFound("Bluesky is not offered for this event.")
    return key


@route(blueprint, "/bluesky/client-metadata.json", methods=["GET"])
def client_metadata(visit: Visit):
    from relaycast.networks.bluesky import hosted_client_metadata

    return _json(hosted_client_metadata(visit.settings.hosted_page_url or "", _client_key(visit)))


@route(blueprint, "/bluesky/jwks.json", methods=["GET"])
def jwks(visit: Visit):
    from relaycast.networks.bluesky import public_keys

    return _json({"keys": public_keys(_client_key(visit))})
