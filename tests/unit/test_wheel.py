"""`pip install .` ships every module of `relaycast` and `relaycast_local`, the templates, the scorer's weights
and the local data.

The wheel is built offline from a copy of the sources (the tree itself stays clean) and compared with them, so
a new module, subpackage or data file is checked without a list.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Package → the folder it is built from.
FOLDERS = {"relaycast": Path("layers/relaycast"), "relaycast_local": Path("local")}
#: Folders shipped whole, code or not.
DATA = {"relaycast": ("templates", "data"), "relaycast_local": ("data",)}
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


def expected_files() -> set[str]:
    """The source tree as the wheel must hold it: every module, and every file of the data folders."""
    expected = set()
    for package, folder in FOLDERS.items():
        for path in (ROOT / folder).rglob("*"):
            relative = path.relative_to(ROOT / folder)
            if not path.is_file() or "__pycache__" in relative.parts:
                continue
            if path.suffix == ".py" or relative.parts[0] in DATA[package]:
                expected.add(f"{package}/{relative.as_posix()}")
    return expected


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "setup.py"):
        shutil.copy(ROOT / name, source / name)
    for folder in FOLDERS.values():
        shutil.copytree(ROOT / folder, source / folder, ignore=_SKIP)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=120,
    )
    (built,) = out.glob("relaycast-*.whl")
    return built


def test_the_wheel_holds_every_module_template_and_data_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if not name.split("/")[0].endswith(".dist-info")}
    expected = expected_files()
    assert {"relaycast/networks/x.py", "relaycast_local/cli.py", "relaycast/templates/base.html"} <= expected
    assert expected - shipped == set()
    assert {name.split("/")[0] for name in shipped} == set(FOLDERS)


def test_the_installed_wheel_imports_from_where_it_was_installed(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=120)
    # Ahead of the editable install on sys.path: the import must come from the wheel.
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import relaycast.networks.factory, relaycast_local.cli, relaycast.pages;"
             "print(relaycast.networks.factory.__file__); print(relaycast_local.cli.__file__)")
    printed = subprocess.run([sys.executable, "-c", probe, str(target)], check=True, capture_output=True, text=True, timeout=60)
    assert [Path(line).is_relative_to(target) for line in printed.stdout.split()] == [True, True]
    assert "relaycast = relaycast_local.cli:main" in (next(target.glob("relaycast-*.dist-info")) / "entry_points.txt").read_text()
