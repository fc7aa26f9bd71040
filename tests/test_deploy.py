"""deploy/install.sh and deploy/wheelhouse.sh, run for real (the full install is slow)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "deploy" / "install.sh"


def _shim(folder: Path, name: str, output: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\necho {output}\n")
    path.chmod(0o755)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=900, check=False)  # fmt: skip


@pytest.mark.skipif(os.geteuid() != 0, reason="install.sh needs root")
def test_a_32_bit_system_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    _shim(tmp_path, "uname", "armv7l")
    _shim(tmp_path, "dpkg", "armhf")
    result = _run([], {"PATH": f"{tmp_path}:{os.environ['PATH']}", "PREFIX": str(tmp_path / "p")})
    assert result.returncode == 1
    assert "32-bit ARM" in result.stderr and "64-bit" in result.stderr
    assert not (tmp_path / "p").exists()  # nothing was touched


def test_unknown_options_are_refused() -> None:
    result = _run(["--frobnicate"], {})
    assert result.returncode == 2 and "unknown option --frobnicate" in result.stderr


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="install.sh needs root")
def test_install_is_idempotent_keeps_the_config_and_uninstalls(
    tmp_path: Path, tiny_bundle: Callable[..., Path]
) -> None:
    names = ("PREFIX", "CONF_DIR", "STATE_DIR", "UNIT_DIR", "BIN_DIR")
    dirs = {name: str(tmp_path / name) for name in names}
    Path(dirs["UNIT_DIR"]).mkdir()
    bundle = tiny_bundle("llama_long_context", "int4")
    first = _run(["--no-voice", "--bundle", str(bundle)], dirs)
    assert first.returncode == 0, first.stdout + first.stderr
    config = Path(dirs["CONF_DIR"]) / "config.toml"
    assert "[mqtt]" in config.read_text()
    config.write_text(config.read_text() + "\n# mine\n")
    assert (Path(dirs["STATE_DIR"]) / "models" / "current" / "manifest.json").exists()
    assert (Path(dirs["UNIT_DIR"]) / "edge-agent.service").exists()
    again = _run(["--no-voice"], dirs)
    assert again.returncode == 0, again.stderr
    assert "kept your" in again.stdout and config.read_text().endswith("# mine\n")
    venv_python = Path(dirs["PREFIX"]) / "venv" / "bin" / "edge-agent"
    assert subprocess.run([str(venv_python), "config", "--config", str(config)],
                          capture_output=True, check=False).returncode == 0  # fmt: skip
    gone = _run(["--uninstall"], dirs)
    assert gone.returncode == 0 and not Path(dirs["PREFIX"]).exists() and config.exists()
