"""examples/tour.ipynb runs from top to bottom (at a tiny budget) in a Jupyter kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("nbclient")  # the dev extras; `make test` installs them
pytest.importorskip("rliable")

import nbformat
from nbclient import NotebookClient

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

TOUR = Path(__file__).resolve().parents[1] / "examples" / "tour.ipynb"


def test_the_tour_runs_and_writes_its_report(tmp_path, monkeypatch):
    monkeypatch.setenv("PUREJAXPPO_TOUR_STEPS", "20000")
    monkeypatch.setenv("PUREJAXPPO_TOUR_OUT", str(tmp_path))
    monkeypatch.setenv("XLA_FLAGS", "")
    notebook = nbformat.read(TOUR, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells), "commit the tour unexecuted"
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    shown = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in shown if o.output_type == "error"]
    assert (tmp_path / "report" / "aggregate.csv").exists()
    assert "IQM" in (tmp_path / "report" / "report.md").read_text()
