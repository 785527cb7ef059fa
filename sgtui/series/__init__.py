"""A whole series on a Dask cluster (`sgtui series run`; docs/architecture.md, "A series on
many machines").

`plan` decides on the client what each episode needs (skipping the finished ones, as a
season re-run does); `run` sends one task graph per episode to the workers — ingest (or
ASR), then embed — and gathers what comes back. `tasks` is what the workers execute.
Dask is imported inside the functions that use it, so the rest of sgtui does not load it.
"""

from __future__ import annotations

from sgtui.series.run import REPORT_NAME, RunSummary, SeriesPlan, SeriesProgress, plan, run

__all__ = ["REPORT_NAME", "RunSummary", "SeriesPlan", "SeriesProgress", "plan", "run"]
