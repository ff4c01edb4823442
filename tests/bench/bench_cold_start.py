"""Benchmark of the functions' cold start (not a test: it asserts nothing about time).

    python tests/bench/bench_cold_start.py [--runs 5] [--json PATH]

For each function, in fresh Python processes (--runs each, the median), the time to import its module as Lambda
does (the function's folder first on sys.path, the deployed environment: `handler_support.lambda_environment`),
against the time of `import boto3` alone in the same way; the ratio of the two (the goal: at most 1.5). Both are
timed inside the process, around the import statement: the interpreter's own start is the same for both and left
out. The packages are this machine's (the pins of pyproject.toml, as the layer holds them for Lambda's arm64).

Also each function's floor: the import of what every one of its invocations needs, whatever its path, from the
libraries the house builds on: boto3, Powertools' logger and metrics (its batch utility where the function takes
batches, idempotency in publish, Chalice in oauth) and the typed settings and event config (pydantic models) that
every invocation parses. The handler's own cost is what it adds to its floor.

Also what bytecode saves: each function's import beyond boto3's (boto3 loaded first), with the bytecode this
machine's packages have, and with none at all (an empty PYTHONPYCACHEPREFIX: every module compiled, as Lambda
would at every cold start from a layer without bytecode, /opt being read-only; `make layer` compiles it).

Also the layer's unzipped size: the bytes of build/layer/python and of what the stack's layer asset holds
(build/layer without what infra/function.py excludes), when `make layer` has built it.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "handlers")]

from handler_support import FUNCTION_MODULES, import_fresh, lambda_environment  # noqa: E402

LAYER = ROOT / "build" / "layer"

_EVERY_INVOCATION = "aws_lambda_powertools.logging, aws_lambda_powertools.metrics, relaycast.settings"
_BATCH = "aws_lambda_powertools.utilities.batch"  # before pydantic, as the handlers import it (see test_cold_imports)
FLOORS = {
    "poll": f"boto3, {_EVERY_INVOCATION}",
    "select": f"boto3, {_EVERY_INVOCATION}",
    "propose": f"boto3, {_BATCH}, {_EVERY_INVOCATION}",
    "publish": f"boto3, {_BATCH}, aws_lambda_powertools.utilities.idempotency, {_EVERY_INVOCATION}",
    "expire": f"boto3, {_BATCH}, {_EVERY_INVOCATION}",
    "oauth": f"boto3, chalice, {_EVERY_INVOCATION}",
}


def _asset_exclude() -> list[str]:
    """infra/function.py's LAYER_EXCLUDE, read from its source (importing infra would start the CDK's Node)."""
    tree = ast.parse((ROOT / "infra" / "function.py").read_text())
    (value,) = [n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "LAYER_EXCLUDE"]
    return ast.literal_eval(value)


def _bytes(folder: Path, exclude: list[str] = ()) -> int | None:
    if not folder.is_dir():
        return None
    return sum(p.stat().st_size for p in folder.rglob("*")
               if p.is_file() and not any(fnmatch.fnmatch(part, pattern) for part in p.relative_to(folder).parts
                                          for pattern in exclude))


_AFTER_BOTO3 = """
import sys, time
sys.path.insert(0, {folder!r})
import boto3
start = time.perf_counter()
import {module}
print(time.perf_counter() - start)
"""


def _after_boto3(name: str, bytecode: bool) -> float:
    """Seconds to import the function's module once boto3 is loaded, with this machine's bytecode or none."""
    folder = ROOT / "functions" / name
    env = lambda_environment(name)
    with tempfile.TemporaryDirectory() as empty:
        if not bytecode:
            env = {**env, "PYTHONPYCACHEPREFIX": empty, "PYTHONDONTWRITEBYTECODE": "1"}
        done = subprocess.run([sys.executable, "-c", _AFTER_BOTO3.format(folder=str(folder), module=FUNCTION_MODULES[name])],
                              cwd=folder, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout)


def measure(runs: int = 9) -> dict:
    """The figures, JSON-able: boto3's import, each function's import and its ratio to boto3's, the layer's size."""
    # Round robin: a machine busy for a while slows every module's imports alike, not one module's five.
    probes = [(None, None), *((name, None) for name in FUNCTION_MODULES), *((name, FLOORS[name]) for name in FUNCTION_MODULES)]
    seconds: dict[tuple[str | None, str | None], list[float]] = {probe: [] for probe in probes}
    for _ in range(runs):
        for (name, modules), times in seconds.items():
            times.append(import_fresh(name, modules=modules)["seconds"])
    median = {probe: round(statistics.median(times) * 1000, 1) for probe, times in seconds.items()}
    boto3_ms = median[None, None]
    bytecode: dict[tuple[str, bool], list[float]] = {(n, b): [] for n in FUNCTION_MODULES for b in (True, False)}
    for _ in range(max(3, runs // 3)):
        for (name, with_bytecode), times in bytecode.items():
            times.append(_after_boto3(name, with_bytecode))
    handlers = {}
    for name in FUNCTION_MODULES:
        ms, floor_ms = median[name, None], median[name, FLOORS[name]]
        handlers[name] = {"import_ms": ms, "ratio": round(ms / boto3_ms, 2), "floor_ms": floor_ms,
                          "floor_ratio": round(floor_ms / boto3_ms, 2), "over_floor_ms": round(ms - floor_ms, 1),
                          "over_boto3_ms_with_bytecode": round(statistics.median(bytecode[name, True]) * 1000, 1),
                          "over_boto3_ms_without_bytecode": round(statistics.median(bytecode[name, False]) * 1000, 1)}
    return {
        "runs": runs,
        "boto3_ms": boto3_ms,
        "handlers": handlers,
        "layer_unzipped_bytes": _bytes(LAYER / "python"),
        "layer_asset_unzipped_bytes": _bytes(LAYER, _asset_exclude()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per module (the median is kept)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    figures = measure(args.runs)
    table = Table(title=f"cold start: import of each function's module (median of {args.runs} fresh processes)")
    for column in ("module", "import ms", "× boto3", "floor ms", "floor × boto3", "over floor ms",
                   "after boto3 ms", "… without bytecode"):
        table.add_column(column, justify="left" if column == "module" else "right")
    table.add_row("boto3 alone", f"{figures['boto3_ms']:.0f}", "1.00", "", "", "", "", "")
    for name, row in figures["handlers"].items():
        ratio = f"{row['ratio']:.2f}" if row["ratio"] <= 1.5 else f"[red]{row['ratio']:.2f}[/red]"
        table.add_row(name, f"{row['import_ms']:.0f}", ratio, f"{row['floor_ms']:.0f}", f"{row['floor_ratio']:.2f}",
                      f"{row['over_floor_ms']:.0f}", f"{row['over_boto3_ms_with_bytecode']:.0f}",
                      f"{row['over_boto3_ms_without_bytecode']:.0f}")
    console = Console()
    console.print(table)
    for label, key in (("layer, unzipped", "layer_unzipped_bytes"), ("layer asset, unzipped", "layer_asset_unzipped_bytes")):
        size = figures[key]
        console.print(f"{label}: " + (f"{size:,} bytes ({size / 2**20:.1f} MiB)" if size else "not built (make layer)"))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
