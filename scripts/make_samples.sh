#!/usr/bin/env bash
# Rebuild sample_projects/: two generated episodes, ingested from their SRT (no speaker
# names, so the annotator has work to do), embedded with the default encoders and
# clustered once, with their truth CSVs. The raw media (~6 MB each) stays in a temporary
# folder: `sgtui sample` regenerates the same episodes from the same seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
SGTUI="${SGTUI:-.venv/bin/sgtui}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$SGTUI" sample -o "$work"
mkdir -p sample_projects
for name in sample01 sample02; do
  "$SGTUI" ingest "$work/$name.mp4" --subs "$work/$name.srt" --embed --device cpu \
    -o "sample_projects/$name.sgproj" --force
  "$SGTUI" cluster "sample_projects/$name.sgproj" --as sgtui  # the starting point: no annotator undoes it
  cp "$work/$name.truth.csv" sample_projects/
  "$SGTUI" eval "sample_projects/$name.sgproj" --truth "sample_projects/$name.truth.csv"
done
ls -l sample_projects
