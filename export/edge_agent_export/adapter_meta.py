"""What a bundle records about the LoRA adapter merged into it, and whether a bundle is
still what building with an adapter makes (``verify --adapter``, ``make bundle``)."""

from __future__ import annotations

import json
from pathlib import Path

from edge_agent.llm.bundle import sha256_file
from edge_agent.llm.manifest import Manifest
from edge_agent_export.errors import ExportError


def adapter_stamp(adapter: Path) -> str:
    """How a bundle's manifest names the adapter merged into it: folder and weights hash."""
    return f"{adapter.name} sha256:{sha256_file(adapter / 'adapter_model.safetensors')}"


def stale_for(manifest: Manifest, adapter: Path) -> str | None:
    """Why a bundle is not what building with ``adapter`` makes now, or None if it is."""
    wanted = adapter_stamp(adapter)
    # The weights decide, not the folder's name (an adapter is often tried from /tmp first).
    if (manifest.adapter or "").rpartition(" ")[2] != wanted.rpartition(" ")[2]:
        return f"built with adapter {manifest.adapter}, not {wanted}"
    if manifest.planner_none_threshold != none_threshold(adapter):
        return (f"none threshold {manifest.planner_none_threshold}, the adapter's "
                f"planner.json now says {none_threshold(adapter)}")  # fmt: skip
    return None


def none_threshold(adapter: Path) -> float | None:
    """The planner's calibrated none threshold that comes with an adapter (planner.json),
    if any."""
    path = adapter / "planner.json"
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("none_threshold")
    except (ValueError, AttributeError) as error:
        raise ExportError(f"{path}: not a JSON object with a none_threshold ({error})") from error
    if value is not None and not (isinstance(value, int | float) and 0 <= value <= 1):
        raise ExportError(f"{path}: none_threshold must be a number from 0 to 1, not {value!r}")
    return None if value is None else float(value)
