"""`sgtui demo` on the bundled sample: what README says it shows is what it shows (issue 24 B.18).

The bundled samples are ingested from their ASS, whose Name field says who speaks, so the demo
shows the subtitles' suggested names beside its clusters (`Akira? 1.00`); README counts their
clusters and characters, checked here against the files themselves.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from sgtui.project import Project
from sgtui.tui.names import status_hint
from sgtui.tui.state import AnnotatorState
from sgtui.tui.widgets import cluster_row

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_projects"


def sgtui(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sgtui", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_the_demo_shows_the_subtitles_suggested_names(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "SGTUI_SAMPLES": str(SAMPLES)}
    r = sgtui("demo", "--path-only", env=env)
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    with open(SAMPLES / "sample01.truth.csv", encoding="utf-8") as fh:
        truth = [(round(float(row["start"]) * 1000), row["speaker"]) for row in csv.DictReader(fh)]
    with Project.open(path, readonly=True) as p:
        lines = p.lines()
        assert len(lines) == len(truth)
        for ln, (start_ms, speaker) in zip(lines, truth, strict=True):  # the ASS Name field, per line
            assert abs(ln.start_ms - start_ms) < 10 and ln.actor == speaker, (ln, start_ms, speaker)
        state = AnnotatorState(p, "demo-viewer")
        # every character's name is suggested, on a cluster of that character's lines (a
        # character split in two keeps the name on one part: the other is a merge to make)
        assert state.clusters and set(state.name_sugg) <= {c.id for c in state.clusters}
        assert {s.source for s in state.name_sugg.values()} == {"subtitle"}
        assert {s.name for s in state.name_sugg.values()} == {speaker for _, speaker in truth}
        assert status_hint(state).startswith(f"{len(state.name_sugg)} suggested")
        biggest = state.clusters[0]
        row = cluster_row(state, state.cluster_rows().index(biggest.id), 30).plain
        assert f"{state.name_sugg[biggest.id].name}? 1.00" in row, row


def test_readme_counts_the_bundled_samples_clusters_and_characters(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    text = " ".join(readme.split())
    # what README claims: "sampleNN K operations (C clusters for N characters)", per sample
    claims = {name: tuple(map(int, rest)) for name, *rest in re.findall(
        r"(sample0[12]) (\d+) operations? \((\d+) clusters for (\d+) characters\)", text)}
    assert set(claims) == {"sample01", "sample02"}, "README no longer counts the samples"
    for name in ("sample01", "sample02"):
        with open(SAMPLES / f"{name}.truth.csv", encoding="utf-8") as fh:
            speakers = {row["speaker"] for row in csv.DictReader(fh)}
        r = sgtui("eval", SAMPLES / f"{name}.sgproj", "--truth", SAMPLES / f"{name}.truth.csv", "--json")
        assert r.returncode == 0, r.stderr
        ops = json.loads(r.stdout)["ops"]
        with Project.open(SAMPLES / f"{name}.sgproj", readonly=True) as p:
            clusters = len(p.clusters())
        assert claims[name] == (ops["total"], clusters, len(speakers)), (name, ops)
    demo = re.findall(r"`sgtui demo` opens .*?: (\d+) lines of (\d+) characters in (\d+) clusters", text)
    assert demo == [("80", "5", str(claims["sample01"][1]))]
