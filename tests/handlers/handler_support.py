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
}


def load_function(name: str, module: str = "handler"):
    """Import a function's module from its own folder, as Lambda does (never `functions/` on sys.path)."""
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "functions" / name
    spec = importlib.util.spec_from_file_location(f"relaycast_fn_{name}_{module}", folder / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded
    spec.loader.exec_module(loaded)
    return loaded


def sqs_event(*bodies):
    import json

    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"h-{i}",
                "body": json.dumps(body) if not isinstance(body, str) else body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-3:123456789012:publish",
                "awsRegion": "eu-west-3",
            }
            for i, body in enumerate(bodies)
        ]
    }
