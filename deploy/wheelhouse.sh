#!/usr/bin/env bash
# Build an offline wheelhouse for the device on any machine (no Pi, no compiler needed):
# edge-agent itself plus every wheel it and its voice extra need, for 64-bit ARM
# (Raspberry Pi OS Bookworm / Debian 12: CPython 3.11, glibc 2.36) by default.
#
#   deploy/wheelhouse.sh [OUT]            # default OUT: wheelhouse-aarch64
#   ARCH=x86_64 deploy/wheelhouse.sh      # for a Debian 12 amd64 box instead
#
# Then copy OUT to the device and run: sudo deploy/install.sh --wheelhouse OUT
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-wheelhouse-${ARCH:-aarch64}}
ARCH=${ARCH:-aarch64}
PYTHON=${PYTHON:-python3}
EXTRAS=${EXTRAS:-voice}
# Every manylinux tag a glibc 2.36 system accepts that wheels on the index actually use.
PLATFORMS=()
for tag in manylinux2014 manylinux_2_17 manylinux_2_24 manylinux_2_27 manylinux_2_28 \
           manylinux_2_31 manylinux_2_34 manylinux_2_35 manylinux_2_36; do
    PLATFORMS+=(--platform "${tag}_${ARCH}")
done

mkdir -p "$OUT"
echo "building the edge-agent wheel"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$OUT" .
wheel=$(ls -t "$OUT"/edge_agent-*.whl | head -1)
# Pure-Python dependencies published only as source (vosk's srt): built into universal
# wheels here, so that the device never needs to build anything.
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$OUT" srt
echo "downloading dependencies for cp311 ${ARCH} into $OUT"
"$PYTHON" -m pip download --quiet --dest "$OUT" --only-binary=:all: --find-links "$OUT" \
    --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
    "${PLATFORMS[@]}" --platform any \
    "${wheel}[${EXTRAS}]"
count=$(ls "$OUT"/*.whl | wc -l)
size=$(du -sh "$OUT" | cut -f1)
echo "ready: $OUT ($count wheels, $size)"
