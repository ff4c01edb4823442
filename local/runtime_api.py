"""An HTTP front for a deployed REST API: API Gateway's Lambda proxy integration (payload v1), on loopback.

Each request is matched against the deployed REST API's resources (read back from moto's API Gateway) the way
API Gateway does (literal segments before `{param}` before `{proxy+}`), turned into a proxy event and sent to
the integration's function through moto's Lambda Invoke (so the handler runs in-process). When the matched
resource is a greedy proxy, or the API has no resources but the root, and the function is a Chalice app, the
Chalice route table gives `resource` and the path parameters instead. No resource or method: 403
`{"message": "Missing Authentication Token"}`; a function error or a malformed answer: 502, as API Gateway.

The base URL includes the stage, like the real invoke URL: `http://127.0.0.1:<port>/<stage>`.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.config import Config
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Route:
    path: str
    resource_id: str
    pattern: re.Pattern[str]
    params: list[str]
    specificity: tuple[int, int]
    methods: dict[str, dict[str, Any]]  # HTTP method -> integration


def compile_path(path: str) -> tuple[re.Pattern[str], list[str], tuple[int, int]]:
    params: list[str] = []
    parts = []
    literals = 0
    greedy = 0
    for segment in [s for s in path.split("/") if s]:
        if m := re.fullmatch(r"\{(\w+)\+\}", segment):
            params.append(m.group(1))
            parts.append(f"(?P<{m.group(1)}>.+)")
            greedy = 1
        elif m := re.fullmatch(r"\{(\w+)\}", segment):
            params.append(m.group(1))
            parts.append(f"(?P<{m.group(1)}>[^/]+)")
        else:
            literals += 1
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "$"), params, (literals, -greedy)


def best_match(routes: list[Route], path: str) -> tuple[Route, dict[str, str]] | None:
    found = [(r, m) for r in routes if (m := r.pattern.match(path))]
    if not found:
        return None
    route, match = max(found, key=lambda rm: (rm[0].specificity, -len(rm[0].params)))
    return route, {k: v for k, v in match.groupdict().items()}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # no access log per request
        pass


class ApiFront:
    def __init__(self, cloud: Any, deployed: Any, rest_api_id: str, stage: str, host: str, port: int) -> None:
        self.cloud = cloud
        self.deployed = deployed
        self.rest_api_id = rest_api_id
        self.stage = stage
        self._lambda = cloud.client("lambda", config=Config(retries={"max_attempts": 0}, read_timeout=900))
        self.routes = self._read_routes()
        self.binary_types = self._binary_types()
        self._server = make_server(host, port, self.wsgi, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="relaycast-api", daemon=True)
        self.base_url = f"http://{host}:{self._server.server_port}/{stage}"
        self._chalice_routes: dict[str, list[Route] | None] = {}

    def start(self) -> str:
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- the API as deployed ------------------------------------------------------------------------------------

    def _read_routes(self) -> list[Route]:
        apigw = self.cloud.client("apigateway")
        items = apigw.get_resources(restApiId=self.rest_api_id, limit=500)["items"]
        routes = []
        for item in items:
            methods = {}
            for method in item.get("resourceMethods") or {}:
                try:
                    integration = apigw.get_integration(restApiId=self.rest_api_id, resourceId=item["id"], httpMethod=method)
                except apigw.exceptions.NotFoundException:
                    integration = {}
                methods[method] = integration
            pattern, params, specificity = compile_path(item["path"])
            routes.append(Route(item["path"], item["id"], pattern, params, specificity, methods))
        return routes

    def _binary_types(self) -> list[str]:
        api = self.cloud.client("apigateway").get_rest_api(restApiId=self.rest_api_id)
        return [t.replace("~1", "/") for t in api.get("binaryMediaTypes") or []]

    def _chalice_table(self, function_arn: str) -> list[Route] | None:
        if function_arn not in self._chalice_routes:
            app = self.cloud.handler_object(function_arn)
            table = getattr(app, "routes", None)
            if app is None or type(app).__name__ != "Chalice" or not isinstance(table, dict):
                self._chalice_routes[function_arn] = None
            else:
                routes = []
                for path, entries in table.items():
                    pattern, params, specificity = compile_path(path)
                    routes.append(Route(path, "", pattern, params, specificity, {m: {} for m in entries}))
                self._chalice_routes[function_arn] = routes
        return self._chalice_routes[function_arn]

    # -- requests -----------------------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    @staticmethod
    def _forbidden() -> Response:
        return Response(
            json.dumps({"message": "Missing Authentication Token"}),
            status=403,
            headers={"Content-Type": "application/json", "x-amzn-ErrorType": "MissingAuthenticationTokenException"},
        )

    def handle(self, request: Request) -> Response:
        prefix = f"/{self.stage}"
        if request.path != prefix and not request.path.startswith(prefix + "/"):
            return self._forbidden()
        path = request.path[len(prefix) :].rstrip("/") or "/"  # API Gateway ignores a trailing slash
        found = best_match(self.routes, path)
        if found is None:
            return self._forbidden()
        route, params = found
        integration = route.methods.get(request.method) or route.methods.get("ANY")
        if integration is None:
            return self._forbidden()
        if integration.get("type") == "MOCK":
            return Response(b"", status=200)
        uri = integration.get("uri") or ""
        m = re.search(r"functions/(arn:[^/]+)/invocations", uri)
        if integration.get("type") != "AWS_PROXY" or not m:
            return Response(json.dumps({"message": f"integration {integration.get('type')} not served locally"}), status=500)
        function_arn = m.group(1)
        resource = route.path
        if route.specificity[1] < 0 or resource == "/":
            table = self._chalice_table(function_arn)
            if table is not None and (chalice := best_match(table, path)) is not None:
                resource, params = chalice[0].path, chalice[1]
        event = self.event(request, path, resource, route.resource_id, params)
        try:
            reply = self._lambda.invoke(FunctionName=function_arn, Payload=json.dumps(event).encode())
        except Exception:  # the function is gone, moto failed...: API Gateway answers 502 too
            return Response(json.dumps({"message": "Internal server error"}), status=502, mimetype="application/json")
        return self.response(reply)

    def event(self, request: Request, path: str, resource: str, resource_id: str, params: dict[str, str]) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        # API Gateway tells the function how the client reached it; here that is plain HTTP on loopback.
        for name, value in (("X-Forwarded-Proto", request.scheme), ("X-Forwarded-Port", str(request.host.rpartition(":")[2] or "80"))):
            headers[name] = value
            multi_headers[name] = [value]
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, values in request.args.lists():
            multi_query[name] = values
            query[name] = values[-1]
        raw = request.get_data()
        content_type = (request.mimetype or "").lower()
        binary = any(fnmatch.fnmatch(content_type, t) for t in self.binary_types)
        body: str | None
        encoded = False
        if not raw:
            body = None
        elif binary:
            body, encoded = base64.b64encode(raw).decode(), True
        else:
            try:
                body = raw.decode("utf-8")
            except UnicodeDecodeError:
                body, encoded = base64.b64encode(raw).decode(), True
        now = datetime.now(UTC)
        host = request.host
        return {
            "resource": resource,
            "path": path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": resource_id,
                "resourcePath": resource,
                "httpMethod": request.method,
                "extendedRequestId": uuid.uuid4().hex[:16],
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{self.stage}{path}",
                "accountId": self.deployed.account_id,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "stage": self.stage,
                "domainPrefix": host.split(".")[0],
                "requestTimeEpoch": int(time.time() * 1000),
                "requestId": str(uuid.uuid4()),
                "identity": {
                    "sourceIp": request.remote_addr or "127.0.0.1",
                    "userAgent": request.headers.get("User-Agent"),
                    "accessKey": None,
                    "accountId": None,
                    "caller": None,
                    "user": None,
                    "userArn": None,
                    "cognitoIdentityId": None,
                    "cognitoIdentityPoolId": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                },
                "domainName": host,
                "apiId": self.rest_api_id,
            },
            "body": body,
            "isBase64Encoded": encoded,
        }

    @staticmethod
    def response(reply: dict[str, Any]) -> Response:
        internal = Response(json.dumps({"message": "Internal server error"}), status=502, mimetype="application/json")
        if reply.get("FunctionError"):
            return internal
        try:
            result = json.loads(reply["Payload"].read())
            status = int(result["statusCode"])
        except (ValueError, KeyError, TypeError):
            return internal
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        response = Response(data, status=status)
        response.headers.clear()
        for name, value in (result.get("headers") or {}).items():
            response.headers[name] = str(value)
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if name in (result.get("headers") or {}):
                del response.headers[name]
            for value in values:
                response.headers.add(name, str(value))
        if "Content-Type" not in response.headers:
            response.headers["Content-Type"] = "application/json"
        return response
