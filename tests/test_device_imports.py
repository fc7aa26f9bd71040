"""The device has onnxruntime only: loading and running a bundle must not import torch."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

FORBIDDEN = ("torch", "transformers", "optimum", "peft")


def test_running_a_bundle_imports_no_workstation_library(
    tiny_bundle: Callable[[str, str], Path],
) -> None:
    bundle = tiny_bundle("llama", "int4")
    code = f"""
import sys
from edge_agent.__main__ import main
code = main(["generate", "--bundle", {str(bundle)!r}, "--max-new-tokens", "5", "Turn on"])
assert code == 0, code
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
print("LOADED", loaded)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout, result.stdout
