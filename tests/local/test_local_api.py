"""The HTTP front: API Gateway's REST proxy integration in front of a tiny Chalice app."""

from __future__ import annotations

import pytest
import requests
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from relaycast_local.runtime import serve_api

pytestmark = pytest.mark.xdist_group("relaycast-local")


@pytest.fixture(scope="module")
def base_url(stack):
    return serve_api(stack)


def test_get_with_query_and_host(base_url):
    response = requests.get(f"{base_url}/hello", params={"name": "relay"}, timeout=10)

    assert response.status_code == 200
    host = base_url.split("/")[2]
    assert response.json() == {"hello": "relay", "stage": "api", "host": host}
    assert response.headers["Content-Type"] == "application/json"


def test_get_with_path_parameter(cloud, stack, base_url):
    cloud.client("dynamodb").put_item(
        TableName=stack.table_name("Table"), Item={"pk": {"S": "ITEM#42"}, "sk": {"S": "ITEM"}, "name": {"S": "answer"}}
    )

    assert requests.get(f"{base_url}/items/42", timeout=10).json() == {"id": "42", "name": "answer"}
    missing = requests.get(f"{base_url}/items/7", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["Code"] == "NotFoundError"


def test_post_form(base_url):
    response = requests.post(f"{base_url}/form", data={"relay": "r1", "action": "approve"}, timeout=10)

    assert response.status_code == 200
    assert response.json() == {"fields": {"relay": "r1", "action": "approve"}}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/nowhere"), ("DELETE", "/api/hello"), ("GET", "/hello"), ("GET", "/api/items/1/extra")],
)
def test_unknown_routes_are_missing_authentication_token(base_url, method, path):
    origin = base_url.rsplit("/", 1)[0]
    response = requests.request(method, origin + path, timeout=10)

    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


def test_the_event_has_api_gateways_proxy_shape(cloud, base_url):
    front = cloud._fronts[0]
    request = Request(
        EnvironBuilder(
            path="/api/items/9",
            method="POST",
            query_string="a=1&a=2",
            data="x=1",
            content_type="application/x-www-form-urlencoded",
            headers={"Host": "127.0.0.1:1234"},
        ).get_environ()
    )
    event = front.event(request, "/items/9", "/items/{item_id}", "res1", {"item_id": "9"})

    APIGatewayProxyEventModel.model_validate(event)
    assert event["queryStringParameters"] == {"a": "2"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["body"] == "x=1" and event["isBase64Encoded"] is False
    assert event["requestContext"]["path"] == "/api/items/9"
    assert event["requestContext"]["domainName"] == "127.0.0.1:1234"
    assert event["headers"]["Host"] == "127.0.0.1:1234"


def test_a_greedy_proxy_resolves_routes_from_the_chalice_route_table(cloud, stack):
    apigw = cloud.client("apigateway")
    api = apigw.create_rest_api(name="proxy-only")["id"]
    root = next(r["id"] for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/")
    proxy = apigw.create_resource(restApiId=api, parentId=root, pathPart="{proxy+}")["id"]
    apigw.put_method(restApiId=api, resourceId=proxy, httpMethod="ANY", authorizationType="NONE")
    function_arn = stack.functions[stack.logical_id("ApiFn")].arn
    apigw.put_integration(
        restApiId=api,
        resourceId=proxy,
        httpMethod="ANY",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{cloud.region}:lambda:path/2015-03-31/functions/{function_arn}/invocations",
    )
    cloud.client("dynamodb").put_item(
        TableName=stack.table_name("Table"), Item={"pk": {"S": "ITEM#p"}, "sk": {"S": "ITEM"}, "name": {"S": "proxied"}}
    )
    base = serve_api(stack, rest_api=api, stage="dev")

    assert base.endswith("/dev")
    assert requests.get(f"{base}/items/p", timeout=10).json() == {"id": "p", "name": "proxied"}
    assert requests.get(f"{base}/hello", timeout=10).json()["stage"] == "dev"
