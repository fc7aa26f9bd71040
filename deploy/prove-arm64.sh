#!/usr/bin/env bash
# Proof on arm64 without a Pi: build a Debian 12 arm64 root with debootstrap, then, under
# qemu user emulation, run deploy/install.sh in it from an aarch64 wheelhouse and a smoke
# test (load the bundle, answer a request on the demo home). Needs root, network access to
# the Debian mirror and the package index, and binfmt_misc (the script enables qemu's).
#
#   sudo deploy/prove-arm64.sh BUNDLE [ROOT]     # ROOT default: /tmp/edge-agent-arm64
#
# Slow by nature (everything arm64 runs emulated); it prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=$(cd "${1:?usage: $0 BUNDLE [ROOT]}" && pwd)
ROOT=${2:-/tmp/edge-agent-arm64}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PYTHON=${PYTHON:-python3}

step() { STEP_NAME=$1; STEP_START=$(date +%s); echo "== $1"; }
done_step() { echo "== $STEP_NAME: $(( $(date +%s) - STEP_START )) s"; }

[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
step "tools (debootstrap, qemu-user-static)"
missing=()
for pkg in debootstrap qemu-user-static binfmt-support; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
update-binfmts --enable qemu-aarch64 2>/dev/null || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "binfmt_misc has no qemu-aarch64" >&2; exit 1; }
done_step

if [ ! -x "$ROOT/usr/bin/python3" ]; then
    step "debootstrap Debian 12 arm64 into $ROOT"
    rm -rf "$ROOT"
    debootstrap --arch=arm64 --include=python3,python3-venv,ca-certificates bookworm "$ROOT" "$MIRROR"
    done_step
fi

step "aarch64 wheelhouse"
rm -rf "$ROOT/root/src" && mkdir -p "$ROOT/root/src"
PYTHON=$PYTHON deploy/wheelhouse.sh "$ROOT/root/src/wheelhouse"
cp -r deploy systemd "$ROOT/root/src/"
rm -rf "$ROOT/root/bundle" && cp -r "$BUNDLE" "$ROOT/root/bundle"
done_step

mounts=(proc/cpuinfo proc sys dev)
cleanup() { for m in "${mounts[@]}"; do umount -l "$ROOT/$m" 2>/dev/null || true; done; }
trap cleanup EXIT
mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# qemu-user passes the host's /proc/cpuinfo through; onnxruntime's CPU detection finds no
# ARM cores in an x86 one and crashes on import (SIGSEGV). Show it a Raspberry Pi 5's
# (4x Cortex-A76); a real Pi has its own.
cpuinfo="$ROOT/root/cpuinfo-pi5"
: > "$cpuinfo"
for core in 0 1 2 3; do
    printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n' "$core" >> "$cpuinfo"
done
mount --bind "$cpuinfo" "$ROOT/proc/cpuinfo"

step "install.sh inside the arm64 root (offline wheelhouse, voice extra, the bundle)"
chroot "$ROOT" uname -m
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    /root/src/deploy/install.sh --wheelhouse /root/src/wheelhouse --bundle /root/bundle
done_step

step "install.sh again (idempotent: keeps config and model)"
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    /root/src/deploy/install.sh --wheelhouse /root/src/wheelhouse
done_step

step "smoke test: load the bundle and answer a request"
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root /usr/local/bin/edge-agent ask --bundle /var/lib/edge-agent/models/current \
    "turn off the porch light"
done_step

echo "arm64 proof: OK"
