#!/usr/bin/env bash
# Rebuild sample_projects/: two generated episodes, embedded with the default encoders
# (CAM++ voices, grid keyframes) and clustered once, with their truth CSVs. It is run after
# any change to the engine's defaults or to the encoders, and the tests that count the
# samples' operations (0 each) read what it wrote. sample01, what `sgtui demo` opens, is
# ingested from its ASS: its Name field carries who speaks, so the demo shows the subtitles' suggested
# names (`Akira? 1.00`) as README describes. sample02 is ingested from its SRT, without
# names: the season's next episode, for a character bank to name (tests/test_bank.py).
# The raw media (~6 MB each) stays in a temporary folder: `sgtui sample` regenerates the
# same episodes from the same seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
SGTUI="${SGTUI:-.venv/bin/sgtui}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$SGTUI" sample -o "$work"
mkdir -p sample_projects
for name in sample01 sample02; do
  subs="$work/$name.ass"
  [ "$name" = sample02 ] && subs="$work/$name.srt"
  "$SGTUI" ingest "$work/$name.mp4" --subs "$subs" --embed --image grid --device cpu \
    -o "sample_projects/$name.sgproj" --force
  "$SGTUI" cluster "sample_projects/$name.sgproj" --as sgtui  # the starting point: no annotator undoes it
  cp "$work/$name.truth.csv" sample_projects/
  "$SGTUI" eval "sample_projects/$name.sgproj" --truth "sample_projects/$name.truth.csv"
done
ls -l sample_projects
