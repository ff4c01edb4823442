"""The connect API: API Gateway in front of the Chalice app `functions/oauth/app.py`.

The Chalice app runs as a plain Lambda function whose handler is the app object (`app.app`). Its API
Gateway resources and methods are generated from the app's own route table, so that the resource path
API Gateway reports (`requestContext.resourcePath`) is the path Chalice dispatches on.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.domain import HostedDomain
from infra.function import FUNCTIONS_DIR, LOG_RETENTION
from infra.parts import StackParts
from infra.pipeline import grant_task_response

OAUTH_APP = FUNCTIONS_DIR / "oauth" / "app.py"
STAGE_NAME = "live"


@dataclass(frozen=True)
class Route:
    path: str
    method: str
    view_args: tuple[str, ...]


class ChaliceRouteError(ValueError):
    """The Chalice app declares something the stack does not map onto API Gateway."""


def load_chalice_app(app_file: Path = OAUTH_APP):
    """Import the Chalice app under a unique module name (never as `app`), without writing byte code."""
    module_name = "_relaycast_infra_oauth_app"
    spec = importlib.util.spec_from_file_location(module_name, app_file)
    if spec is None or spec.loader is None:
        raise ChaliceRouteError(f"cannot import {app_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # The app's own folder (never `functions/`) is importable, as it is at run time (e.g. `chalicelib`); what
    # it imports from there is this load's own (a Chalice blueprint registers with one app only).
    folder = str(app_file.parent)
    before = set(sys.modules)
    sys.path.insert(0, folder)
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
        sys.path.remove(folder)
        for name in set(sys.modules) - before:
            if app_file.parent in Path(getattr(sys.modules[name], "__file__", None) or "/").parents:
                del sys.modules[name]
    return module.app


def chalice_routes(app) -> list[Route]:
    """The app's route table as (path, method) pairs, sorted."""
    routes = []
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            # The hosted page is same-origin and public: anything else needs a decision in the stack first.
            if entry.authorizer is not None:
                raise ChaliceRouteError(f"{method} {path}: Chalice authorizers are not mapped by the stack")
            if entry.cors:
                raise ChaliceRouteError(f"{method} {path}: CORS is not mapped by the stack (the page is same-origin)")
            if entry.api_key_required:
                raise ChaliceRouteError(f"{method} {path}: API keys are not mapped by the stack")
            routes.append(Route(path, method.upper(), tuple(entry.view_args)))
    return sorted(routes, key=lambda r: (r.path, r.method))


class ConnectApi(Construct):
    """The hosted page: REST API (access logs, throttling, tracing) → the `oauth` function."""

    def __init__(self, scope: Construct, id: str, *, parts: StackParts, publish_queue: sqs.IQueue) -> None:
        super().__init__(scope, id)
        config, storage, notices = parts.config, parts.storage, parts.notices
        chalice_app = load_chalice_app()
        self.routes = chalice_routes(chalice_app)

        self.oauth = parts.function(
            self, "OauthFunction", "oauth", "hosted page, connect/callback, relay dashboard, revoke (Chalice)",
            handler="app.app", memory_size=512, timeout=Duration.seconds(20),
            extra_environment={"PUBLISH_QUEUE_URL": publish_queue.queue_url},
        )
        fn = self.oauth.function
        storage.grant_table_read_write(fn)
        storage.grant_config_read(fn)
        storage.grant_app_secret_read(fn)
        # Seals a new grant's tokens; reads them when the relay revokes access from the dashboard.
        storage.token_key.grant_encrypt_decrypt(fn)
        publish_queue.grant_send_messages(fn)
        notices.grant_send(fn)
        if config.moderation:  # the moderator's decision resumes the round
            grant_task_response(self, config, fn)

        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"relaycast-{config.slug}",
            description=f"relaycast {config.name}: the relays' hosted page",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            binary_media_types=list(chalice_app.api.binary_types),
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                # Request bodies carry OAuth codes: never log them.
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=50,
                throttling_burst_limit=100,
            ),
        )
        # Path parameters are checked by API Gateway; no method declares a body model, so body validation
        # (on for cdk-nag's sake) lets the hosted page's form posts through to Chalice unchanged.
        validator = self.api.add_request_validator(
            "Validator",
            request_validator_name="params-and-body",
            validate_request_parameters=True,
            validate_request_body=True,
        )
        # One Lambda proxy integration for every route, and one invoke permission for the stage (not one per
        # method, and no Ref to the Stage resource): all routes reach the same function anyway.
        integration = apigw.AwsIntegration(
            service="lambda",
            proxy=True,
            integration_http_method="POST",
            path=f"2015-03-31/functions/{fn.function_arn}/invocations",
        )
        fn.add_permission(
            "ApiInvoke",
            principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
            source_arn=self.api.arn_for_execute_api(method="*", path="/*", stage=STAGE_NAME),
        )
        for route in self.routes:
            resource = self.api.root if route.path == "/" else self.api.root.resource_for_path(route.path)
            resource.add_method(
                route.method,
                integration,
                authorization_type=apigw.AuthorizationType.NONE,
                request_validator=validator,
                request_parameters={f"method.request.path.{arg}": True for arg in route.view_args},
            )

        # The URL from plain parts: RestApi's own `Endpoint` output refers to the Stage resource.
        self.api.node.try_remove_child("Endpoint")
        stack = Stack.of(self)
        self.url = f"https://{self.api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}/{STAGE_NAME}/"
        if config.domain:  # the organiser's own name, mapped to the same stage
            self.url = HostedDomain(self, "Domain", domain=config.domain, api=self.api).url
        CfnOutput(self, "HostedPageUrl", value=self.url, description="share this URL with the relays")
        # Redirect URIs, mailed links and the cross-site check use this URL, never the request's Host header.
        fn.add_environment("HOSTED_PAGE_URL", self.url)
