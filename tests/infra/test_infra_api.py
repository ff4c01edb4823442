"""The connect API: generated from the Chalice app's route table, proxied to `oauth`."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("infra")


def _path(synth, resource_ref) -> str:
    if "Fn::GetAtt" in resource_ref:  # RestApi.RootResourceId
        return "/"
    res = synth.resources[resource_ref["Ref"]]["Properties"]
    parent = _path(synth, res["ParentId"])
    return parent.rstrip("/") + "/" + res["PathPart"]


def _methods(synth) -> dict[tuple[str, str], dict]:
    return {
        (_path(synth, m["Properties"]["ResourceId"]), m["Properties"]["HttpMethod"]): m["Properties"]
        for m in synth.of_type("AWS::ApiGateway::Method").values()
    }


def test_methods_are_exactly_the_chalice_route_table(synth):
    assert synth.routes, "the Chalice app has routes"
    assert set(_methods(synth)) == {(r.path, r.method) for r in synth.routes}


def test_every_method_is_a_lambda_proxy_to_oauth(synth):
    oauth = synth.function_id("oauth")
    for key, method in _methods(synth).items():
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY", key
        assert integration["IntegrationHttpMethod"] == "POST", key
        assert {"Fn::GetAtt": [oauth, "Arn"]} in integration["Uri"]["Fn::Join"][1], key
        assert method["AuthorizationType"] == "NONE", key


def test_path_parameters_are_declared(synth):
    by_key = _methods(synth)
    for route in synth.routes:
        params = by_key[(route.path, route.method)].get("RequestParameters", {})
        assert params == {f"method.request.path.{arg}": True for arg in route.view_args}, route


def test_api_gateway_may_invoke_oauth(synth):
    oauth = synth.function_id("oauth")
    permissions = [
        p["Properties"] for p in synth.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert permissions and all(p["FunctionName"] == {"Fn::GetAtt": [oauth, "Arn"]} for p in permissions)


def test_the_hosted_app_builds_its_links_from_the_apis_own_stage_url(synth):
    """Redirect URIs and mailed links come from HOSTED_PAGE_URL: the RestApi's stage URL, the one the stack
    outputs for the organiser to share, never a request's Host header."""
    (api_id,) = synth.of_type("AWS::ApiGateway::RestApi")
    url = synth.functions()["oauth"][1]["Environment"]["Variables"]["HOSTED_PAGE_URL"]
    parts = url["Fn::Join"][1]
    assert parts[0] == "https://" and {"Ref": api_id} in parts and parts[-1].endswith("/live/")
    outputs = synth.template["Outputs"]
    (shared,) = [o["Value"] for name, o in outputs.items() if "HostedPageUrl" in name]
    assert shared == url == synth.functions()["select"][1]["Environment"]["Variables"]["HOSTED_PAGE_URL"]


def test_stage_has_access_logs_throttling_and_tracing(synth):
    _, stage = synth.one("AWS::ApiGateway::Stage")
    props = stage["Properties"]
    group_id = props["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    assert synth.resources[group_id]["Properties"]["RetentionInDays"] == 30
    assert props["AccessLogSetting"]["Format"].startswith("{")
    assert props["TracingEnabled"] is True
    (settings,) = props["MethodSettings"]
    assert settings["HttpMethod"] == "*" and settings["ResourcePath"] == "/*"
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0
    assert settings["LoggingLevel"] in ("ERROR", "INFO")
    assert settings["DataTraceEnabled"] is False
