"""`domain:` puts the hosted page on the organiser's own name: certificate, custom domain on the same stage,
the alias in their Route 53 zone when they name one; synthesised clean of cdk-nag and cfn-lint errors."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from conftest import EXAMPLE_EVENT, synthesise
from relaycast.config import EventConfigError, parse_event_config

pytestmark = pytest.mark.xdist_group("infra")


def _config(**domain):
    data = yaml.safe_load(EXAMPLE_EVENT.read_text())
    data.update(slug="own-domain", domain=domain)
    return parse_event_config(data)


@pytest.fixture(scope="module")
def zoned(tmp_path_factory):
    return synthesise(_config(name="relay.x27.example", hosted_zone_id="Z0123456789ABCDEFGHIJ",
                              hosted_zone_name="x27.example"), tmp_path_factory)


def test_the_hosted_page_is_served_on_the_organisers_name(zoned):
    (cert_id, certificate), = zoned.of_type("AWS::CertificateManager::Certificate").items()
    assert certificate["Properties"]["DomainName"] == "relay.x27.example"
    assert certificate["Properties"]["ValidationMethod"] == "DNS"
    assert certificate["Properties"]["DomainValidationOptions"] == [
        {"DomainName": "relay.x27.example", "HostedZoneId": "Z0123456789ABCDEFGHIJ"}]
    (domain_id, domain), = zoned.of_type("AWS::ApiGateway::DomainName").items()
    assert domain["Properties"]["DomainName"] == "relay.x27.example"
    assert domain["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert domain["Properties"]["SecurityPolicy"] == "TLS_1_2"
    assert domain["Properties"]["RegionalCertificateArn"] == {"Ref": cert_id}
    (_, mapping), = zoned.of_type("AWS::ApiGateway::BasePathMapping").items()
    (api_id,) = zoned.of_type("AWS::ApiGateway::RestApi")
    assert mapping["Properties"]["RestApiId"] == {"Ref": api_id} and "BasePath" not in mapping["Properties"]
    (_, record), = zoned.of_type("AWS::Route53::RecordSet").items()
    assert record["Properties"]["Name"] == "relay.x27.example." and record["Properties"]["Type"] == "A"
    assert record["Properties"]["HostedZoneId"] == "Z0123456789ABCDEFGHIJ"
    # Redirect URIs, mailed links and the cross-site check use the organiser's name.
    assert zoned.functions()["oauth"][1]["Environment"]["Variables"]["HOSTED_PAGE_URL"] == "https://relay.x27.example/"
    outputs = zoned.template["Outputs"]
    assert any("HostedPageUrl" in k and v["Value"] == "https://relay.x27.example/" for k, v in outputs.items())


def test_the_domain_passes_the_gates(zoned, tools):
    findings = zoned.nag_findings()
    assert zoned.synth_error is None and not findings, "\n".join([zoned.synth_error or "", *findings])
    template = zoned.outdir / f"{zoned.stack_name}.template.json"
    result = subprocess.run([tools.script("cfn-lint"), str(template)], capture_output=True, text=True, env=tools.env,
                            timeout=300)
    assert not result.returncode & 3, result.stdout + result.stderr


def test_without_a_zone_the_records_are_the_organisers(tmp_path_factory):
    bare = synthesise(_config(name="relay.x27.example"), tmp_path_factory)
    (_, certificate), = bare.of_type("AWS::CertificateManager::Certificate").items()
    assert certificate["Properties"]["ValidationMethod"] == "DNS" and "DomainValidationOptions" not in certificate["Properties"]
    assert not bare.of_type("AWS::Route53::RecordSet")
    assert any("DomainTarget" in k for k in bare.template["Outputs"])
    assert bare.synth_error is None and not bare.nag_findings()


@pytest.mark.parametrize("domain, words", [
    ({"name": "https://relay.x27.example"}, "is not a domain name"),
    ({"name": "relay.x27.example", "hosted_zone_id": "Z0123456789ABCDEFGHIJ"}, "give both"),
    ({"name": "relay.other.example", "hosted_zone_id": "Z0123456789ABCDEFGHIJ", "hosted_zone_name": "x27.example"},
     "is not in the zone"),
])
def test_a_wrong_domain_is_refused_with_the_reason(domain, words):
    with pytest.raises(EventConfigError) as refused:
        _config(**domain)
    assert words in str(refused.value)
