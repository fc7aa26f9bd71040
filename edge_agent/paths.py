"""Where edge-agent keeps what it fetches and remembers."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$EDGE_AGENT_CACHE``, else ``$XDG_CACHE_HOME/edge-agent``, else ``~/.cache/edge-agent``."""
    explicit = os.environ.get("EDGE_AGENT_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "edge-agent"


def source_cache_dir() -> Path:
    """Source weights fetched by the export (one folder per built-in source)."""
    return cache_root() / "sources"
