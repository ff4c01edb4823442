"""The connect API's web ACL: rate limits per client IP in front of the stage, before any request reaches
the `oauth` function (a general limit; stricter ones where a request writes or mails: connecting, joining,
and the routes that send e-mail).

The app's own limits (`relaycast.limits`) are finer (per address, per relay, per event) and answer in the relay's
language; these stop a flood from one address before it costs a Lambda invocation. WAF counts over a sliding
window and only the requests a rule's scope matches; a blocked request gets 429 and a short page.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

WINDOW_SECONDS = 300  # WAF's evaluation window (60, 120, 300 or 600 s)
BODY_KEY = "rate-limited"
# Both of the app's languages: WAF cannot know the relay's.
PAGE = (
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>relaycast: too many requests</title></head><body>"
    "<h1>Too many requests</h1><p>Too many requests came from your network. Please try again in a few minutes.</p>"
    "<h1 lang=\"fr\">Trop de requêtes</h1><p lang=\"fr\">Trop de requêtes sont venues de votre réseau. "
    "Réessayez dans quelques minutes.</p></body></html>"
)


@dataclass(frozen=True)
class RateRule:
    """At most `limit` requests per client IP in WAF's window, among those whose path contains one of `paths`
    (every request when empty)."""

    name: str
    limit: int  # WAF's lowest is 10
    paths: tuple[str, ...] = ()


# A conference's Wi-Fi puts hundreds of relays behind one address: the limits stop scripts, not a venue.
RULES = (
    RateRule("mail-per-ip", 100, ("/relay/email", "/relay/newlink", "/relay/resend", "/email/confirm")),
    RateRule("connect-per-ip", 300, ("/connect/", "/callback/")),
    RateRule("all-per-ip", 2000),
)


class RateLimits(Construct):
    """A regional web ACL of rate-based rules per client IP, associated with the API's stage."""

    def __init__(self, scope: Construct, id: str, *, api: apigw.RestApi, name: str) -> None:
        super().__init__(scope, id)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            scope="REGIONAL",
            description="relaycast: rate limits per client IP on the hosted page",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            custom_response_bodies={BODY_KEY: wafv2.CfnWebACL.CustomResponseBodyProperty(content_type="TEXT_HTML", content=PAGE)},
            visibility_config=_visibility(name),
            rules=[_rule(rule, priority) for priority, rule in enumerate(RULES)],
        )
        stage = api.deployment_stage
        self.association = wafv2.CfnWebACLAssociation(
            self, "StageAssociation", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn,
        )
        # The stage must exist before WAF can attach to it.
        self.association.node.add_dependency(stage)


def _visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True,
    )


def _path_contains(path: str) -> wafv2.CfnWebACL.StatementProperty:
    return wafv2.CfnWebACL.StatementProperty(
        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
            positional_constraint="CONTAINS",
            search_string=path,
            # A path spelled with %-escapes is the same path to API Gateway.
            text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="URL_DECODE")],
        )
    )


def _scope(paths: tuple[str, ...]) -> wafv2.CfnWebACL.StatementProperty | None:
    if not paths:
        return None
    if len(paths) == 1:
        return _path_contains(paths[0])
    return wafv2.CfnWebACL.StatementProperty(
        or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=[_path_contains(p) for p in paths])
    )


def _rule(rule: RateRule, priority: int) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=rule.name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                aggregate_key_type="IP", limit=rule.limit, evaluation_window_sec=WINDOW_SECONDS,
                scope_down_statement=_scope(rule.paths),
            )
        ),
        action=wafv2.CfnWebACL.RuleActionProperty(
            block=wafv2.CfnWebACL.BlockActionProperty(
                custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                    response_code=429, custom_response_body_key=BODY_KEY,
                    response_headers=[wafv2.CfnWebACL.CustomHTTPHeaderProperty(name="Retry-After", value=str(WINDOW_SECONDS))],
                )
            )
        ),
        visibility_config=_visibility(rule.name),
    )
