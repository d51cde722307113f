#!/usr/bin/env bash
# Installs everything insightcap needs on a fresh Debian/Ubuntu machine with Python 3.11:
# system tools (ffmpeg, and espeak-ng/sox for the eval tools), the .venv with the CPU build of
# torch, insightcap itself (editable) with its packaged model weights, and the test tools.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# ffmpeg: media tools; espeak-ng + sox: the eval's synthetic meetings; chromium: the browser tests
# (driven by Playwright, never a downloaded browser); pango/harfbuzz/fonts: WeasyPrint's PDF export.
need_apt=()
for package in ffmpeg espeak-ng sox chromium libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core; do
  dpkg -s "$package" >/dev/null 2>&1 || need_apt+=("$package")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> Installing system packages: ${need_apt[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> Creating .venv"
  python3 -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

# The CPU wheel first: a plain `torch` requirement would pull several GB of CUDA builds.
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  echo "==> Installing torch (CPU build)"
  "${pip[@]}" install "torch==2.13.0"
fi

echo "==> Installing insightcap, its models and test tools (the text generator compiles once, ~7 min)"
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "${pip[@]}" install -e ".[generator,dev]"
# openai-whisper: the alternative ASR runtime and the standard WER normaliser. --no-deps skips
# triton (~1 GB, GPU only); its real dependencies are in the dev extra.
"${pip[@]}" install --no-deps "openai-whisper==20250625"
# resemblyzer's webrtcvad imports pkg_resources (gone from new setuptools); the wheels fork does not.
"${pip[@]}" install --force-reinstall --no-deps "webrtcvad-wheels==2.0.14.post1"

echo "==> Checking the packaged model weights"
.venv/bin/insightcap models --check
echo "==> insightcap is installed: .venv/bin/insightcap --help"
