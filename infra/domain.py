"""The hosted page on the organiser's own domain: an ACM certificate (DNS-validated), an API Gateway regional
custom domain mapped to the API's stage at its root, and, with a Route 53 zone of the account, the alias record.

Without a zone the organiser adds two records by hand: the certificate's validation CNAME (ACM shows it; the deploy
waits until it validates) and their name's CNAME to the stack output `DomainTarget`.
"""

from __future__ import annotations

from aws_cdk import CfnOutput
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct

from relaycast.config import Domain


class HostedDomain(Construct):
    def __init__(self, scope: Construct, id: str, *, domain: Domain, api: apigw.RestApi) -> None:
        super().__init__(scope, id)
        zone = (route53.HostedZone.from_hosted_zone_attributes(self, "Zone", hosted_zone_id=domain.hosted_zone_id,
                                                               zone_name=domain.hosted_zone_name)
                if domain.hosted_zone_id and domain.hosted_zone_name else None)
        self.certificate = acm.Certificate(self, "Certificate", domain_name=domain.name,
                                           validation=acm.CertificateValidation.from_dns(zone))
        self.domain_name = apigw.DomainName(
            self, "DomainName", domain_name=domain.name, certificate=self.certificate,
            endpoint_type=apigw.EndpointType.REGIONAL, security_policy=apigw.SecurityPolicy.TLS_1_2,
        )
        # The stage at the root: https://<name>/ is the hosted page (the stage's own URL keeps working).
        self.domain_name.add_base_path_mapping(api, stage=api.deployment_stage)
        if zone is not None:
            route53.ARecord(self, "Alias", zone=zone, record_name=domain.name,
                            target=route53.RecordTarget.from_alias(targets.ApiGatewayDomain(self.domain_name)))
        CfnOutput(self, "DomainTarget", value=self.domain_name.domain_name_alias_domain_name,
                  description=f"{domain.name} points here (a CNAME, when the zone is not in Route 53)")
        self.url = f"https://{domain.name}/"
