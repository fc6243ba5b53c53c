"""Locations in the repository that tests read."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTENV = REPO / "hack" / "testenv" / "testenv.sh"
CATALOG = REPO / "hack" / "testenv" / "catalog"
CRD_FILE = REPO / "crds" / "hourglass.eigenlayer.io_performers.yaml"
SAMPLES = REPO / "config" / "samples"
