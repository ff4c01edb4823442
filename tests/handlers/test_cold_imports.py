"""What each function leaves out at import (its cold start), read from `sys.modules` of a fresh Python that imported
the function's module as Lambda does, with its deployed environment. Not about time: `make bench-cold-start` is."""

import pytest
from handler_support import FUNCTION_MODULES, import_fresh, lambda_environment

pytestmark = pytest.mark.xdist_group("cold-imports")

#: Modules a function must not load at import: the X-Ray SDK nowhere (Lambda's active tracing needs none), the
#: scorer only in the functions that score, Powertools' batch and idempotency utilities only where they serve, the
#: clients of X (tweepy, authlib), Mastodon.py and requests until a path calls a network, jinja2 until one renders.
LOADED_WHEN_USED = ["tweepy", "authlib", "mastodon", "requests", "jinja2"]
#: Powertools' batch utility imports its pydantic parser models (every event source's) when pydantic is loaded
#: before it: the functions that batch import it first.
PARSER_MODELS = "aws_lambda_powertools.utilities.parser"
LEFT_OUT = {
    "poll": ["aws_xray_sdk", "aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.idempotency",
             "chalice", *LOADED_WHEN_USED],
    "select": ["aws_xray_sdk", "aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.idempotency",
               "chalice", *LOADED_WHEN_USED],
    "propose": ["aws_xray_sdk", PARSER_MODELS, "relaycast.selection", "relaycast.insight", "relaycast.rounds",
                "aws_lambda_powertools.utilities.idempotency", "chalice", *LOADED_WHEN_USED],
    "publish": ["aws_xray_sdk", PARSER_MODELS, "relaycast.selection", "relaycast.insight", "relaycast.rounds", "chalice", *LOADED_WHEN_USED],
    "expire": ["aws_xray_sdk", PARSER_MODELS, "relaycast.selection", "relaycast.insight", "relaycast.rounds",
               "aws_lambda_powertools.utilities.idempotency", "chalice", *LOADED_WHEN_USED],
    "oauth": ["aws_xray_sdk", "relaycast.networks.bluesky", "relaycast.selection", "relaycast.insight", "relaycast.rounds",
              "aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.idempotency", *LOADED_WHEN_USED],
}


@pytest.mark.parametrize("name", sorted(FUNCTION_MODULES))
def test_a_function_imports_without_what_its_paths_do_not_use(name):
    loaded = set(import_fresh(name)["modules"])
    assert "relaycast.observability" in loaded  # the probe did import the function
    assert [m for m in LEFT_OUT[name] if m in loaded] == []


def test_a_function_whose_calls_are_traced_loads_the_xray_sdk():
    """The check above can fail: the same import with tracing turned on brings the SDK in."""
    env = {**lambda_environment("poll"), "POWERTOOLS_TRACE_DISABLED": "false"}
    assert "aws_xray_sdk" in import_fresh("poll", env)["modules"]


def test_outside_lambda_the_tracer_stays_off():
    env = {k: v for k, v in lambda_environment("poll").items() if k != "LAMBDA_TASK_ROOT"}
    assert "aws_xray_sdk" not in import_fresh("poll", {**env, "POWERTOOLS_TRACE_DISABLED": "false"})["modules"]
