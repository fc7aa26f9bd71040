"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edge_agent.llm.manifest import Manifest
from edge_agent_export.quality import QualityReport


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def print_stages(seconds: dict[str, float]) -> None:
    print(table(["stage", "seconds"], [(k, f"{v:.1f}") for k, v in seconds.items()]))
    print()


def print_manifest(manifest: Manifest, path: Path) -> None:
    arch, quant = manifest.architecture, manifest.quantization
    size = sum(f.size_bytes for f in manifest.files.values())
    settings = ", ".join(
        f"{k}={v}" for k, v in quant.model_dump().items() if v is not None and k != "precision"
    )
    print(f"bundle     {path}  ({manifest.name}, {megabytes(size)})")
    print(
        f"source     {manifest.source.kind} {manifest.source.ref}  "
        f"sha256 {manifest.source.sha256[:16]}  license {manifest.source.license or '?'}"
    )
    print(
        f"model      {arch.model_type}, {arch.num_parameters / 1e6:.1f}M parameters, "
        f"{arch.num_layers} layers, {arch.num_kv_heads} KV heads x {arch.head_dim}, "
        f"vocabulary {arch.vocab_size}"
    )
    print(f"precision  {quant.precision}" + (f" ({settings})" if settings else ""))
    print(
        f"tokens     bos {manifest.tokens.bos_id} (added: {manifest.tokens.add_bos}), "
        f"stop {manifest.tokens.stop_ids}"
    )
    print()


def print_report(report: QualityReport) -> None:
    print(f"quality on {report.texts} fixed texts ({report.tokens_scored} tokens scored):")
    print(
        table(
            ["precision", "size", "top-1 vs fp32", "perplexity", "load s", "decode tok/s"],
            [
                (
                    r.precision,
                    megabytes(r.size_bytes),
                    f"{r.top1_agreement_vs_fp32:.1%}",
                    f"{r.perplexity:.2f}",
                    f"{r.load_time_s:.2f}",
                    f"{r.decode_tokens_per_s:.1f}",
                )
                for r in report.rows
            ],
        )
    )
