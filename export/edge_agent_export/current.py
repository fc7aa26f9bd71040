"""Whether a bundle on disk is already what a build would make (``build --keep-current``,
``make bundle``): the same source, adapter, none threshold, graph and quantization, with
files that match its manifest. Anything else is rebuilt, with the reason said."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from edge_agent.llm.bundle import BundleError, open_bundle
from edge_agent.llm.manifest import Manifest
from edge_agent_export import sources
from edge_agent_export.adapter_meta import stale_for
from edge_agent_export.errors import SourceError
from edge_agent_export.quantize import QuantSettings


def rebuild_reason(
    out_dir: Path, source_spec: str, settings: QuantSettings, graph: str,
    adapter: Path | Literal["default"] | None,
) -> str | None:  # fmt: skip
    """Why ``out_dir`` is not what building with these arguments makes; None if it is."""
    if not (out_dir / "manifest.json").is_file():
        return f"no bundle in {out_dir}"
    try:
        manifest = open_bundle(out_dir, verify="always").manifest
    except BundleError as error:
        return str(error)
    if (why := _other_source(manifest, source_spec)) is not None:
        return why
    if manifest.io.kind != graph:
        return f"a {manifest.io.kind} graph, not {graph}"
    built, wanted = manifest.quantization.model_dump(), settings.describe().model_dump()
    if changed := [f"{k} {built[k]} -> {wanted[k]}" for k in wanted if built.get(k) != wanted[k]]:
        return "quantization " + ", ".join(changed)
    merged = sources.adapter_for(source_spec, adapter)
    if merged is None:
        return None if manifest.adapter is None else f"built with adapter {manifest.adapter}"
    if not (merged / "adapter_model.safetensors").is_file():
        return f"{merged} holds no adapter weights"  # the build says what is wrong with it
    return stale_for(manifest, merged)


def _other_source(manifest: Manifest, source_spec: str) -> str | None:
    name = sources.DEFAULT_SOURCE if source_spec == "default" else source_spec
    if name in sources.BUILTINS:  # known by name and hash, without fetching it
        want = ("builtin", name, sources.BUILTINS[name].sha256)
    else:
        try:
            source = sources.resolve(source_spec, offline=True)
        except SourceError as error:
            return str(error)
        if source.kind == "hub":
            return "a hub source is downloaded anew on every build"
        want = (source.kind, source.ref, source.sha256)
    have = (manifest.source.kind, manifest.source.ref, manifest.source.sha256)
    if have != want:
        return f"built from {have[1]} (sha256 {have[2][:12]}), not {want[1]} ({want[2][:12]})"
    return None
