"""relaycast_local: the local runtime, the sandbox networks, the demo and the `relaycast` command."""

from pathlib import Path

#: The repository (its build folder holds every local artefact); light to import, unlike the harness.
ROOT = Path(__file__).resolve().parents[1]
