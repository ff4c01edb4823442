"""Helpers the handler tests import (a module name of its own: every test folder has a conftest)."""

EVENT = {
    "name": "Handler Test Summit",
    "slug": "handler-test",
    "hashtags": ["#HTS26"],
    "timezone": "Europe/Paris",
    "start": "2026-12-01T09:00",
    "end": "2026-12-02T18:00",
    "notice_sender": "relaycast@example.org",
    "cap_per_relay": 3,
    "languages": ["en", "fr"],
    "experts": [{"handle": "@amina_data", "weight": 2}],
    "publish_jitter_seconds": 0,  # moto's queue delays run in real time; the jitter has its own test
    "quiet_hours": "off",  # the frozen clocks here stand at any hour; quiet hours have their own tests
}


def load_function(name: str, module: str = "handler"):
    """Import a function's module from its own folder, as Lambda does: that folder (never `functions/`) is on
    sys.path while it imports, and the modules it brings from there (e.g. `chalicelib`) are its own, fresh at
    every load and never seen by another function."""
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "functions" / name
    spec = importlib.util.spec_from_file_location(f"relaycast_fn_{name}_{module}", folder / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded
    before = set(sys.modules)
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(loaded)
    finally:
        sys.path.remove(str(folder))
        for taken in set(sys.modules) - before:
            if (getattr(sys.modules[taken], "__file__", None) or "").startswith(f"{folder}/"):
                del sys.modules[taken]
    return loaded


def refusal_messages(source: str, *also: str) -> set[str]:
    """The English message of every refusal `source` raises: a RelayError of any kind, or one of the `also` types."""
    import re

    from relaycast import errors

    kinds = [name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, errors.RelayError)]
    return set(re.findall(rf'\b(?:{"|".join([*kinds, *also])})\(\s*"([^"]+)"', source))


REDIRECT = "http://127.0.0.1:9/callback/x"


def sent_mail(to=None, subject=None):
    """What moto's SES holds as sent, optionally for one address and with a subject containing `subject`."""
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID][boto3.session.Session().region_name]
    return [
        m for m in backend.sent_messages
        if (to is None or to in m.destinations.get("ToAddresses", [])) and (subject is None or subject in m.subject)
    ]


def confirm_address(store, settings, email):
    """Open the confirmation link sent to `email`, as the relay would."""
    import re
    from urllib.parse import unquote

    from relaycast import relays

    (mail,) = sent_mail(email, "confirm")
    token = unquote(re.search(r"/email/confirm\?c=([^\s]+)", mail.body).group(1))
    return relays.confirm_email(store, settings, settings.event(), token)


def connect(store, settings, username, email=None, sandbox=None, lang="en", confirm=True):
    """A relay connects through the sandbox's consent page (and confirms their address); returns finish_connect's answer."""
    import html
    import re

    import requests

    from relaycast import relays

    started = relays.start_connect(
        store, settings, settings.event(), network="x", form={"email": email or ""}, redirect_uri=REDIRECT, lang=lang
    )
    page = requests.get(started.url, timeout=5)
    fields = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)}
    answer = requests.post(f"{sandbox.base_url}/i/oauth2/authorize", data={**fields, "username": username, "decision": "allow"},
                           allow_redirects=False, timeout=5)
    location = answer.headers["Location"]
    params = dict(p.split("=", 1) for p in location.split("?", 1)[1].split("&"))
    connected = relays.finish_connect(
        store, settings, settings.event(), network="x", params=params, redirect_uri=REDIRECT, binding=started.binding,
        base_url="http://127.0.0.1:9",
    )
    if email and confirm:
        confirm_address(store, settings, email)
    return connected


def deliver(queue_url, handler, context, batch_size=10):
    """One pass of an SQS event source mapping with ReportBatchItemFailures over what the queue holds now:
    batches of received messages (with their real ApproximateReceiveCount) go to `handler`; succeeded
    messages are deleted, failed ones become visible again at once. Returns (records, failed ids)."""
    import boto3

    sqs = boto3.client("sqs")
    delivered, failed, retry = 0, [], []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=batch_size, VisibilityTimeout=300, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            break
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {"ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"]},
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:eu-west-3:123456789012:end-grant",
                    "awsRegion": "eu-west-3",
                }
                for m in messages
            ]
        }
        answer = handler(event, context)
        failures = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        delivered += len(messages)
        for m in messages:
            if m["MessageId"] in failures:
                failed.append(m["MessageId"])
                retry.append(m["ReceiptHandle"])
            else:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    for handle in retry:  # the visibility timeout ran out: the next pass receives them again
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return delivered, failed


def sqs_event(*bodies, receives=1):
    import json

    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"h-{i}",
                "body": json.dumps(body) if not isinstance(body, str) else body,
                "attributes": {"ApproximateReceiveCount": str(receives)},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-3:123456789012:publish",
                "awsRegion": "eu-west-3",
            }
            for i, body in enumerate(bodies)
        ]
    }


def create_table(name: str) -> str:
    """The one table as infra/storage.py shapes it (keys and the by_kind index), in moto."""
    import boto3

    boto3.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "kind")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_kind",
                "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    return name


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def table_snapshot(store):
    import json

    return sorted(json.dumps(i, sort_keys=True, default=repr) for i in store.table.scan()["Items"])


class Browser:
    """One relay's browser: keeps the cookies the app sets, walks the sandbox X consent page."""

    def __init__(self, client, sandbox=None, accept_language=None):
        self.client, self.sandbox, self.cookies = client, sandbox, {}
        self.accept_language = accept_language

    def _headers(self, extra=None):
        headers = dict(extra or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.accept_language:
            headers["Accept-Language"] = self.accept_language
        return headers

    def _keep(self, answer):
        cookie = answer.headers.get("Set-Cookie")
        if cookie:
            name, value = cookie.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value
        return answer

    def get(self, path):
        return self._keep(self.client.http.get(path, headers=self._headers()))

    def post(self, path, body=""):
        return self._keep(self.client.http.post(path, body=body, headers=self._headers(FORM)))

    def start(self, network="x", body="email="):
        answer = self.post(f"/connect/{network}", body)
        assert answer.status_code == 302, answer.body
        return answer.headers["Location"]

    def consent(self, url, username="relay_six", **override):
        """The sandbox X's consent page, answered; returns the callback path and its parameters."""
        import html
        import re

        import requests

        page = requests.get(url, timeout=5)
        fields = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)}
        back = requests.post(f"{self.sandbox.base_url}/i/oauth2/authorize",
                             data={**fields, "username": username, "decision": "allow", **override}, allow_redirects=False, timeout=5)
        location = back.headers["Location"]
        return location[location.index("/callback/"):]

    def connect(self, username="relay_six", body="email=", confirm=False):
        """The whole connect; `confirm`: the account joins an existing dashboard, and the relay confirms it."""
        landed = self.get(self.consent(self.start(body=body), username))
        if confirm:
            landed = self.answer_link(landed)
        assert landed.status_code == 303, landed.body
        return landed.headers["Location"].split("t=", 1)[1]

    def answer_link(self, page, decision="link"):
        """Answer the callback's "link this account to your dashboard?" page (its form, from this browser)."""
        import html
        import re

        assert page.status_code == 200, page.body
        text = page.body.decode()
        action = html.unescape(re.search(r'<form method="post" action="https://localhost(/callback/[a-z]+)"', text).group(1))
        confirmation = html.unescape(re.search(r'name="l" value="([^"]+)"', text).group(1))
        return self.post(action, f"l={confirmation}&decision={decision}")


def receipt_of(store, relay_id, network="x"):
    """The one receipt of a relay's network (receipts are per grant: a test that made several reads them all)."""
    receipts = store.receipts(relay_id, network)
    assert len(receipts) == 1, f"{len(receipts)} receipts for {relay_id} on {network}"
    return receipts[0]


def relay_of(token):
    """The relay a dashboard link speaks for (relay ids are random: a test reads them from the link)."""
    from relaycast import relays
    from relaycast.settings import Settings
    from relaycast.storage import Store

    settings = Settings.from_env()
    return relays.relay_from_token(Store(settings.table_name), settings, settings.event(), token)


def ttl_removal(item, sequence="100"):
    """The stream record of the TTL deleting `item`, as Lambda's JSON event carries it (binary as base64 text)."""
    import base64

    from boto3.dynamodb.types import Binary, TypeSerializer

    def attribute(value):
        return {"B": base64.b64encode(bytes(value.value)).decode()} if isinstance(value, Binary) else TypeSerializer().serialize(value)

    return {
        "eventID": f"ttl-{sequence}",
        "eventName": "REMOVE",
        "eventSource": "aws:dynamodb",
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        "dynamodb": {"OldImage": {k: attribute(v) for k, v in item.items()}, "SequenceNumber": sequence},
    }


def ttl_outcomes(caplog):
    """What `expire` did with each TTL deletion it was handed, in order ("ended", "already", …)."""
    return [record.outcome for record in caplog.records if record.getMessage() == "TTL deletion"]


#: Each function's module as Lambda imports it from the function's own folder (its handler setting's module).
FUNCTION_MODULES = {"poll": "handler", "select": "handler", "propose": "handler", "publish": "handler", "expire": "handler",
                    "oauth": "app"}


def lambda_environment(name: str) -> dict[str, str]:
    """What a deployed function imports under: the variables the stack sets (placeholder values: nothing reads
    them at import; `tests/infra` checks the names against the template) and those Lambda itself sets, among them
    `LAMBDA_TASK_ROOT`, by which Powertools knows it runs in Lambda."""
    import os

    stack = {
        "TABLE_NAME": "relaycast-table", "TOKEN_KEY_ID": "arn:aws:kms:eu-west-3:123456789012:key/k",
        "EVENT_CONFIG_PARAMETER": "/relaycast/event/config", "APP_SECRET_NAME": "relaycast/event/app",
        "X_API_BASE": "https://api.x.com", "X_AUTHORIZE_URL": "https://x.com/i/oauth2/authorize",
        "POWERTOOLS_SERVICE_NAME": name, "POWERTOOLS_METRICS_NAMESPACE": "relaycast", "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    if name in ("oauth", "propose", "publish"):
        stack["PUBLISH_QUEUE_URL"] = "https://sqs.eu-west-3.amazonaws.com/123456789012/publish"
    if name == "expire":
        stack["END_GRANT_QUEUE_URL"] = "https://sqs.eu-west-3.amazonaws.com/123456789012/end-grant"
    if name in ("oauth", "select", "propose"):
        stack["HOSTED_PAGE_URL"] = "https://api.execute-api.eu-west-3.amazonaws.com/live/"
    if name == "select":
        stack["PROPOSE_QUEUE_URL"] = "https://sqs.eu-west-3.amazonaws.com/123456789012/propose"
    runtime = {
        "LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": f"relaycast-{name}", "AWS_REGION": "eu-west-3",
        "AWS_DEFAULT_REGION": "eu-west-3", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000", "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }
    return {"PATH": os.environ.get("PATH", ""), **runtime, **stack}


_IMPORT_PROBE = """
import json, sys, time
sys.path.insert(0, {folder!r})
start = time.perf_counter()
import {module}
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "modules": sorted(sys.modules)}}))
"""


def import_fresh(name: str | None, env: dict[str, str] | None = None, modules: str | None = None) -> dict:
    """Import a function's module in a fresh Python as Lambda does (its folder first on sys.path, the layer's
    packages after it, the function's environment), or `boto3` alone when `name` is None, or `modules` (an import
    list, "a, b.c") in the function's place: the seconds the import took and every module it left in `sys.modules`."""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    if name is None:
        folder, module, env = tempfile.gettempdir(), "boto3", env or lambda_environment("boto3")
    else:
        folder = str(Path(__file__).resolve().parents[2] / "functions" / name)
        module, env = modules or FUNCTION_MODULES[name], env or lambda_environment(name)
    done = subprocess.run([sys.executable, "-c", _IMPORT_PROBE.format(folder=folder, module=module)], cwd=folder,
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)
