"""``edge-agent-export build``: source -> fp32 ONNX -> quantized bundle with a quality report."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from edge_agent import __version__
from edge_agent.llm.bundle import Bundle, open_bundle
from edge_agent.llm.manifest import Manifest, SourceInfo
from edge_agent_export import sources
from edge_agent_export.adapter_meta import adapter_stamp, none_threshold
from edge_agent_export.bundle_writer import staging_folder, write_manifest, write_tokenizer
from edge_agent_export.errors import ExportError
from edge_agent_export.loading import LoadedModel, load
from edge_agent_export.onnx_export import (
    GraphKind,
    describe_architecture,
    describe_graph,
    export_decoder,
)
from edge_agent_export.quality import PrecisionRow, QualityReport, encode_texts, eval_texts, measure
from edge_agent_export.quantize import QuantSettings, quantize

STAGES = (
    "fetch source",
    "load weights",
    "export ONNX",
    "quantize",
    "quality report",
    "write bundle",
)


@dataclass
class BuildResult:
    bundle: Bundle
    report: QualityReport
    stage_seconds: dict[str, float] = field(default_factory=dict)


class _Progress:
    """One bar over the build's stages, with the time each took."""

    def __init__(self, quiet: bool) -> None:
        self.bar = tqdm(
            total=len(STAGES),
            unit="stage",
            disable=quiet,
            file=sys.stderr,
            bar_format="{desc:<32} {bar} {n_fmt}/{total_fmt} [{elapsed}]",
        )
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.bar.set_description(name)
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started
        self.bar.update(1)

    def close(self) -> None:
        self.bar.set_description("done")
        self.bar.close()


def build(
    source_spec: str,
    out_dir: Path,
    settings: QuantSettings,
    *,
    force: bool = False,
    offline: bool = False,
    quiet: bool = False,
    graph: GraphKind = "fused",
    adapter: Path | Literal["default"] | None = "default",
) -> BuildResult:
    """``adapter``: a LoRA adapter folder to merge before export; "default" merges the
    committed planner adapter when building the default source, and nothing otherwise."""
    progress = _Progress(quiet)
    with progress.stage("fetch source"):
        source = sources.resolve(source_spec, offline=offline)
        adapter = sources.adapter_for(source_spec, adapter)
        if adapter is not None and not (adapter / "adapter_config.json").is_file():
            raise ExportError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json)")
    with progress.stage("load weights"):
        loaded = load(source)
        if adapter is not None:
            from edge_agent_export.finetune import merge_adapter

            loaded.model = merge_adapter(loaded.model, adapter)
    with (
        staging_folder(out_dir, force=force) as staging,
        tempfile.TemporaryDirectory(dir=staging.parent, prefix=".export-") as tmp,
    ):
        with progress.stage("export ONNX"):
            proto = export_decoder(loaded.model, loaded.tokenizer, Path(tmp), graph)
            manifest = _manifest(source, loaded, proto, settings, graph)
            if adapter is not None:
                manifest = manifest.model_copy(update={
                    "planner_prompt": "instructions",
                    "adapter": adapter_stamp(adapter),
                    "name": f"{manifest.name}+{adapter.name}",
                    "planner_none_threshold": none_threshold(adapter),
                })  # fmt: skip
            # An fp32 build is its own reference: write it once, straight into the bundle.
            fp32_dir = staging if settings.precision == "fp32" else Path(tmp) / "fp32"
            reference = _write_bundle(fp32_dir, proto, QuantSettings("fp32"), loaded, manifest)
        with progress.stage("quantize"):
            target = reference
            if settings.precision != "fp32":
                target = _write_bundle(staging, proto, settings, loaded, manifest,
                                       progress=not quiet)  # fmt: skip
            del proto
        with progress.stage("quality report"):
            report = _quality_report(reference, target, loaded)
        with progress.stage("write bundle"):
            (staging / "quality_report.json").write_text(
                json.dumps(report.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8"
            )
            write_manifest(staging, target.manifest)
    progress.close()
    bundle = open_bundle(out_dir)
    return BuildResult(bundle, report, progress.seconds)


def _manifest(
    source: sources.ResolvedSource,
    loaded: LoadedModel,
    proto: object,
    settings: QuantSettings,
    graph: GraphKind,
) -> Manifest:
    name = (
        f"{Path(source.ref).name if source.kind != 'builtin' else source.ref}-{settings.precision}"
    )
    return Manifest(
        name=name,
        source=SourceInfo(
            kind=source.kind, ref=source.ref, sha256=source.sha256, license=source.license
        ),
        architecture=describe_architecture(loaded.model, proto),  # type: ignore[arg-type]
        io=describe_graph(proto, graph),  # type: ignore[arg-type]
        quantization=settings.describe(),
        tokens=loaded.tokens,
        chat_template=loaded.chat_template,
        files={},
        created_by=f"edge-agent-export {__version__}",
    )


def _write_bundle(
    folder: Path, proto: object, settings: QuantSettings, loaded: LoadedModel, manifest: Manifest,
    *, progress: bool = False,
) -> Bundle:  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    calibration = None
    if settings.gptq:
        from edge_agent_export.calibration import planner_calibration

        calibration = planner_calibration(loaded.tokenizer, manifest)
    quantize(proto, settings, folder / manifest.model_file, calibration, progress)  # type: ignore[arg-type]
    write_tokenizer(loaded.tokenizer, folder / manifest.tokenizer_file)
    written = write_manifest(
        folder, manifest.model_copy(update={"quantization": settings.describe()})
    )
    return Bundle(folder, written)


def _quality_report(reference: Bundle, target: Bundle, loaded: LoadedModel) -> QualityReport:
    texts = eval_texts()
    sequences = encode_texts(loaded.tokenizer, reference.manifest, texts)
    rows: list[PrecisionRow] = []
    fp32_row, fp32_predictions = measure(reference, sequences, None)
    rows.append(fp32_row)
    if target.path != reference.path and target.manifest.quantization.precision != "fp32":
        row, _ = measure(target, sequences, fp32_predictions)
        rows.append(row)
    tokens = sum(len(s) - 1 for s in sequences)
    return QualityReport(texts=len(texts), tokens_scored=tokens, rows=rows)
