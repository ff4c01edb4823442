"""The hosted page's web ACL: rate limits per client IP, associated with the API's stage."""

from __future__ import annotations

import pytest

from infra.waf import RULES, WINDOW_SECONDS

pytestmark = pytest.mark.xdist_group("infra")


def _rules(synth) -> dict[str, dict]:
    _, acl = synth.one("AWS::WAFv2::WebACL")
    return {r["Name"]: r for r in acl["Properties"]["Rules"]}


def test_the_web_acl_is_associated_with_the_apis_stage(synth):
    acl_id, acl = synth.one("AWS::WAFv2::WebACL")
    _, association = synth.one("AWS::WAFv2::WebACLAssociation")
    (stage_id,) = synth.of_type("AWS::ApiGateway::Stage")
    (api_id,) = synth.of_type("AWS::ApiGateway::RestApi")
    assert acl["Properties"]["Scope"] == "REGIONAL"
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    parts = association["Properties"]["ResourceArn"]["Fn::Join"][1]
    assert parts[2:] == [":apigateway:", {"Ref": "AWS::Region"}, "::/restapis/", {"Ref": api_id}, "/stages/", {"Ref": stage_id}]
    assert stage_id in association["DependsOn"]
    assert acl["Properties"]["DefaultAction"] == {"Allow": {}}


def test_every_rule_limits_per_client_ip_and_answers_429_with_the_page(synth):
    rules = _rules(synth)
    assert set(rules) == {r.name for r in RULES}
    bodies = synth.one("AWS::WAFv2::WebACL")[1]["Properties"]["CustomResponseBodies"]
    for name, rule in rules.items():
        rate = rule["Statement"]["RateBasedStatement"]
        assert rate["AggregateKeyType"] == "IP", name
        assert rate["EvaluationWindowSec"] in (60, 120, 300, 600) and rate["Limit"] >= 10, name
        response = rule["Action"]["Block"]["CustomResponse"]
        assert response["ResponseCode"] == 429, name
        assert {"Name": "Retry-After", "Value": str(WINDOW_SECONDS)} in response["ResponseHeaders"]
        assert bodies[response["CustomResponseBodyKey"]]["ContentType"] == "TEXT_HTML"
        assert rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True, name


def _paths(statement) -> set[str]:
    if "OrStatement" in statement:
        return {p for s in statement["OrStatement"]["Statements"] for p in _paths(s)}
    return {statement["ByteMatchStatement"]["SearchString"]}


def test_connect_joins_and_mail_routes_have_stricter_limits_than_the_rest(synth):
    rules = _rules(synth)
    general = rules["all-per-ip"]["Statement"]["RateBasedStatement"]
    assert "ScopeDownStatement" not in general
    connect = rules["connect-per-ip"]["Statement"]["RateBasedStatement"]
    mail = rules["mail-per-ip"]["Statement"]["RateBasedStatement"]
    assert _paths(connect["ScopeDownStatement"]) == {"/connect/", "/callback/"}
    assert _paths(mail["ScopeDownStatement"]) == {"/relay/email", "/relay/newlink", "/relay/resend", "/email/confirm"}
    assert mail["Limit"] < connect["Limit"] < general["Limit"]


def test_the_scoped_paths_are_routes_of_the_hosted_app(synth):
    """A renamed route would silently leave its rule matching nothing."""
    routes = {r.path for r in synth.routes}
    concrete = {r.replace("{action}", a) for r in routes for a in ("email", "newlink", "resend")}
    for rule in RULES:
        for path in rule.paths:
            assert any(path in f"{route}/" for route in routes | concrete), path
