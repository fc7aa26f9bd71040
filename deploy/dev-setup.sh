#!/usr/bin/env bash
# Set up a development / workstation environment from nothing: system packages
# (when run as root on Debian or Raspberry Pi OS), a virtual environment in .venv,
# and edge-agent with its export and dev extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
EXTRAS=${EXTRAS:-export,voice,dev}
# Debian packages the tests and tools need beyond Python itself.
# mosquitto: the tests start their own broker; libportaudio2: sounddevice; espeak-ng:
# spoken replies and, with flite, the test speech; alsa-utils: the ALSA config files.
SYSTEM_PACKAGES=(python3-venv mosquitto libportaudio2 espeak-ng flite alsa-utils)

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: edge-agent needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
    # python3-venv only matters when the interpreter cannot make a venv by itself.
    if [ "$pkg" = python3-venv ] && "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
        continue
    fi
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "installing system packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        echo "warning: missing system packages (${missing[*]}); install them as root" >&2
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# torch is pinned in the export extra; a plain 'torch' would pull a multi-GB CUDA build.
"$VENV/bin/python" -m pip install --quiet -e ".[${EXTRAS}]"
echo "ready: $VENV (extras: $EXTRAS)"
