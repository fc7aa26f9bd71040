#!/usr/bin/env bash
# Install edge-agent as a system service on Raspberry Pi OS Bookworm 64-bit or Debian 12
# (arm64 or amd64). Run it again to upgrade; it never overwrites your config.
#
#   sudo deploy/install.sh [--wheelhouse DIR] [--bundle SRC] [--with-mosquitto] [--no-voice]
#   sudo deploy/install.sh --uninstall [--purge]
#
#   --wheelhouse DIR   install offline from a folder made by deploy/wheelhouse.sh
#                      (default: this checkout and the package index)
#   --bundle SRC       a model bundle (folder or .tar.gz) to install as the current model
#   --with-mosquitto   also install a local MQTT broker
#   --no-voice         skip the voice extra and its system packages
#   --purge            with --uninstall: also delete the config and the models
#
# Where things go: the program in /opt/edge-agent/venv, the config in
# /etc/edge-agent/config.toml, models in /var/lib/edge-agent/models (`current` is the one
# served), the unit in /etc/systemd/system/edge-agent.service.
set -euo pipefail
SOURCE_DIR=$(cd "$(dirname "$0")/.." && pwd)

PREFIX=${PREFIX:-/opt/edge-agent}
CONF_DIR=${CONF_DIR:-/etc/edge-agent}
STATE_DIR=${STATE_DIR:-/var/lib/edge-agent}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
BIN_DIR=${BIN_DIR:-/usr/local/bin}
PYTHON=${PYTHON:-python3}

wheelhouse="" bundle="" mosquitto=0 voice=1 uninstall=0 purge=0
while [ $# -gt 0 ]; do
    case "$1" in
        --wheelhouse) wheelhouse=$(cd "$2" && pwd); shift 2 ;;
        --bundle) bundle=$2; shift 2 ;;
        --with-mosquitto) mosquitto=1; shift ;;
        --no-voice) voice=0; shift ;;
        --uninstall) uninstall=1; shift ;;
        --purge) purge=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "edge-agent install: $*"; }
fail() { echo "edge-agent install: error: $*" >&2; exit 1; }
have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

[ "$(id -u)" -eq 0 ] || fail "run as root (sudo $0 ...)"

if [ "$uninstall" -eq 1 ]; then
    if have_systemd; then
        systemctl disable --now edge-agent 2>/dev/null || true
    fi
    rm -f "$UNIT_DIR/edge-agent.service"
    have_systemd && systemctl daemon-reload
    rm -rf "$PREFIX"
    [ -L "$BIN_DIR/edge-agent" ] && rm -f "$BIN_DIR/edge-agent"
    if [ "$purge" -eq 1 ]; then
        rm -rf "$CONF_DIR" "$STATE_DIR" /var/lib/private/edge-agent
        say "removed the program, the config and the models"
    else
        say "removed the program; kept $CONF_DIR and $STATE_DIR (--purge removes them)"
    fi
    exit 0
fi

# --- the machine ---------------------------------------------------------------------------
machine=$(uname -m)
userland=$(dpkg --print-architecture 2>/dev/null || echo unknown)
case "$machine/$userland" in
    aarch64/arm64|x86_64/amd64) ;;
    armv6l/*|armv7l/*|*/armhf|*/armel)
        fail "this is a 32-bit ARM system ($machine, $userland). onnxruntime publishes no \
32-bit ARM wheels; install Raspberry Pi OS (64-bit) and run this again." ;;
    *) fail "unsupported machine $machine with $userland packages (arm64 or amd64 needed)" ;;
esac
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || fail "Python 3.11 or newer is needed ($("$PYTHON" --version 2>&1 || echo none found))"

# --- system packages -------------------------------------------------------------------------
packages=(python3-venv ca-certificates)
[ "$voice" -eq 1 ] && packages+=(libportaudio2 espeak-ng alsa-utils)
[ "$mosquitto" -eq 1 ] && packages+=(mosquitto)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing system packages: ${missing[*]}"
    apt-get update -qq || fail "apt-get update failed (no network? use a mirror or install ${missing[*]} by hand)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
        || fail "could not install ${missing[*]}"
fi

# --- the program: built beside the old one, switched only when complete -----------------
extras=$([ "$voice" -eq 1 ] && echo "[voice]" || echo "")
mkdir -p "$PREFIX"
rm -rf "$PREFIX/venv.new"
say "creating the environment"
"$PYTHON" -m venv "$PREFIX/venv.new"
pip=("$PREFIX/venv.new/bin/python" -m pip install --quiet --disable-pip-version-check)
if [ -n "$wheelhouse" ]; then
    wheel=$(ls -t "$wheelhouse"/edge_agent-*.whl 2>/dev/null | head -1) \
        || fail "no edge_agent wheel in $wheelhouse (made by deploy/wheelhouse.sh?)"
    [ -n "$wheel" ] || fail "no edge_agent wheel in $wheelhouse (made by deploy/wheelhouse.sh?)"
    say "installing from $wheelhouse (offline)"
    "${pip[@]}" --no-index --find-links "$wheelhouse" "${wheel}${extras}" \
        || { rm -rf "$PREFIX/venv.new"; fail "install from the wheelhouse failed; the previous version is untouched"; }
else
    say "installing from $SOURCE_DIR and the package index"
    "${pip[@]}" "${SOURCE_DIR}${extras}" \
        || { rm -rf "$PREFIX/venv.new"; fail "pip install failed; the previous version is untouched"; }
fi
"$PREFIX/venv.new/bin/edge-agent" config --print-defaults >/dev/null \
    || { rm -rf "$PREFIX/venv.new"; fail "the new install does not run; the previous version is untouched"; }
if [ -d "$PREFIX/venv" ]; then
    rm -rf "$PREFIX/venv.old"
    mv "$PREFIX/venv" "$PREFIX/venv.old"
fi
mv "$PREFIX/venv.new" "$PREFIX/venv"
rm -rf "$PREFIX/venv.old"
# venv scripts name their interpreter by absolute path: fix them for the final folder.
grep -rl "$PREFIX/venv.new" "$PREFIX/venv/bin" 2>/dev/null \
    | xargs -r sed -i "s#$PREFIX/venv.new#$PREFIX/venv#g"
mkdir -p "$BIN_DIR" && ln -sf "$PREFIX/venv/bin/edge-agent" "$BIN_DIR/edge-agent"

# --- config and models ---------------------------------------------------------------------
mkdir -p "$CONF_DIR"
if [ ! -e "$CONF_DIR/config.toml" ]; then
    "$PREFIX/venv/bin/edge-agent" config --print-defaults > "$CONF_DIR/config.toml.new"
    mv "$CONF_DIR/config.toml.new" "$CONF_DIR/config.toml"
    say "wrote $CONF_DIR/config.toml (edit mqtt.host and friends)"
else
    "$PREFIX/venv/bin/edge-agent" config --config "$CONF_DIR/config.toml" >/dev/null \
        || say "warning: $CONF_DIR/config.toml does not validate with this version (see above)"
    say "kept your $CONF_DIR/config.toml"
fi
mkdir -p "$STATE_DIR/models"
if [ -n "$bundle" ]; then
    "$PREFIX/venv/bin/edge-agent" model --store "$STATE_DIR/models" install "$bundle" --no-reload \
        || fail "the model bundle was not installed (see above); the rest is in place"
fi

# --- the service ---------------------------------------------------------------------------
install -m 0644 "$SOURCE_DIR/systemd/edge-agent.service" "$UNIT_DIR/edge-agent.service"
if have_systemd; then
    systemctl daemon-reload
    systemctl enable edge-agent >/dev/null
    if [ -e "$STATE_DIR/models/current/manifest.json" ]; then
        systemctl restart edge-agent
        say "service started: systemctl status edge-agent; journalctl -u edge-agent -f"
    else
        say "service enabled; it starts once a model is installed: edge-agent model install BUNDLE"
    fi
else
    say "no running systemd here (a container?): unit installed, not started"
fi
say "done"
