"""docs/ARCHITECTURE.md against the code: its route table, environment table, item kinds and round diagram.

Each check reads the doc's Markdown as written (a table under a heading, a code block under a heading) and
compares it with what the code builds: the Chalice app's route table, the synthesised stack, the kinds the
domain package writes. A change to either side that the other does not follow fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("infra")

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"


def section(doc: str, heading: str) -> str:
    """The text under the `## heading…` line, up to the next `## `."""
    start = doc.index(f"\n## {heading}")
    end = doc.find("\n## ", start + 1)
    return doc[start : end if end != -1 else None]


def table(text: str) -> list[list[str]]:
    """The rows of the first Markdown table in `text`, as cells (header and rule left out).

    A cell's code span may hold `|` (as in `GET|POST /moderate`): cells are split outside code spans only."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in re.split(r"\|(?=(?:[^`]*`[^`]*`)*[^`]*$)", row)[1:-1]] for row in rows[2:]]


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```\n(.*?)```", text, flags=re.S)


def diagram_states(block: str) -> set[str]:
    """A diagram line names its state first, followed by two spaces or more; other lines continue the one above."""
    return {match.group(1) for match in re.finditer(r"^ *([A-Z][A-Za-z]+) {2,}", block, flags=re.M)}


def code_span(cell: str) -> str:
    return cell.split("`")[1]


def asl_states(definition: dict) -> set[str]:
    """Every state of a definition, those of Map item processors included."""
    names = set()
    for name, state in definition["States"].items():
        names.add(name)
        if "ItemProcessor" in state:
            names |= asl_states(state["ItemProcessor"])
    return names


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


# -- routes ------------------------------------------------------------------------------------------------------


def documented_routes(doc: str) -> set[tuple[str, str]]:
    routes = set()
    for cells in table(section(doc, "The hosted app's routes")):
        methods, path = code_span(cells[0]).split(" ", 1)
        routes |= {(method, path.split("?")[0]) for method in methods.split("|")}
    return routes


def test_the_route_table_is_the_chalice_apps(doc, synth):
    app_routes = {(route.method, route.path) for route in synth.routes}
    assert len(app_routes) > 10
    assert documented_routes(doc) == app_routes


# -- environment -------------------------------------------------------------------------------------------------


def documented_environment(doc: str) -> dict[str, tuple[str, str]]:
    """variable → (the functions cell, the value cell)."""
    return {code_span(name): (functions, value) for name, functions, value in table(section(doc, "Environment of the functions"))}


def test_the_environment_table_is_what_the_stack_sets_on_each_function(doc, synth):
    stack = {name: props["Environment"]["Variables"] for name, (_, props) in synth.functions().items()}
    documented = documented_environment(doc)
    for variable, (functions, value) in documented.items():
        expected = set(stack) if functions == "every" else set() if functions == "none" else set(functions.split(", "))
        assert {name for name, env in stack.items() if variable in env} == expected, variable
        if value.startswith("`") and expected:  # a literal value: every function gets exactly it
            assert {stack[name][variable] for name in expected} == {code_span(value)}, variable
    assert {variable for env in stack.values() for variable in env} <= set(documented)


# -- items -------------------------------------------------------------------------------------------------------

#: A kind written as a literal: `"kind": "grant"`, `":kind": "link"`, `fields["kind"] = "grant"`, `"kind": attr("proposal")`.
_LITERAL_KIND = re.compile(r"""["']:?kind["']\]?\s*[:=]\s*(?:attr\()?["'](\w+)["']""")
#: A kind written through a module constant: `"kind": KIND` with `KIND = "moderation"` in the same module.
_CONSTANT_KIND = re.compile(r"""["']kind["']\s*:\s*([A-Z_]+)\b""")


def written_kinds() -> set[str]:
    kinds = set()
    for path in [*(ROOT / "layers" / "relaycast").rglob("*.py"), *(ROOT / "infra").glob("*.py")]:
        source = path.read_text()
        kinds |= set(_LITERAL_KIND.findall(source))
        for constant in _CONSTANT_KIND.findall(source):
            kinds |= set(re.findall(rf"^{constant}\s*=\s*[\"'](\w+)[\"']", source, flags=re.M))
    return kinds


def test_the_items_table_names_every_kind_the_code_writes(doc):
    kinds = written_kinds()
    assert {"grant", "custody", "proposal", "moderation", "instance_app", "quota"} <= kinds  # each way of writing one
    documented = {cells[3] for cells in table(section(doc, "The table"))} - {"—"}  # Powertools' records have none
    assert documented == kinds


# -- the round ---------------------------------------------------------------------------------------------------


def test_the_round_diagram_has_the_state_machines_states(doc, synth, moderated_synth):
    round_diagram, moderation = code_blocks(section(doc, "The round"))[:2]
    assert diagram_states(round_diagram) == asl_states(synth.state_machine_definition())
    assert diagram_states(round_diagram) | diagram_states(moderation) == asl_states(moderated_synth.state_machine_definition())


# -- the readers themselves --------------------------------------------------------------------------------------


def test_the_readers_split_cells_outside_code_and_take_diagram_names_only():
    text = "| route | what |\n|---|---|\n| `GET|POST /a` | x | y |\n"
    assert table(text) == [["`GET|POST /a`", "x", "y"]]
    block = "Poll                 Lambda poll → $.poll\n                       (Catch → AlreadyProposed)\n  FanOut  Map\n"
    assert diagram_states(block) == {"Poll", "FanOut"}
