"""``edge-agent-export``: build, inspect and verify model bundles (workstation side).

Heavy imports (torch, transformers, optimum) happen inside the commands that need them,
so ``inspect`` and ``verify`` answer at once.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
from pathlib import Path

from edge_agent.llm.bundle import BundleError, open_bundle, read_manifest
from edge_agent.logs import setup_logging
from edge_agent_export.errors import ExportError
from edge_agent_export.report_table import print_manifest, print_report, print_stages


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-agent-export", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="export a model to an ONNX bundle")
    build.add_argument(
        "--source",
        required=True,
        help="built-in name (smollm2-135m-instruct, gemma3-270m, default), "
        "a .gguf file, a checkpoint folder, or a hub id",
    )
    build.add_argument("--quant", choices=("fp32", "int8", "int4"), default="int4")
    build.add_argument("--out", required=True, type=Path, help="bundle folder to create")
    build.add_argument(
        "--graph",
        choices=("fused", "optimum"),
        default="fused",
        help="fused: onnxruntime-genai's builder (GroupQueryAttention, about 3x faster decode; "
        "the default); optimum: optimum-onnx's TorchScript export",
    )
    build.add_argument("--block-size", type=int, default=32, help="int4 block size (default 32)")
    build.add_argument(
        "--accuracy-level",
        type=int,
        default=4,
        choices=(0, 1, 2, 3, 4),
        help="int4 MatMulNBits accuracy_level: 4 (default) computes with int8 activations, "
        "about 2.8x faster than 0 or 1 (fp32) on SmolLM2",
    )
    build.add_argument("--asymmetric", action="store_true", help="int4 with zero points")
    build.add_argument(
        "--per-tensor",
        action="store_true",
        help="int8 with one scale per tensor instead of per channel",
    )
    build.add_argument(
        "--keep-embedding", action="store_true", help="leave the token embedding in fp32"
    )
    build.add_argument(
        "--int8-head",
        action="store_true",
        help="int4 with the output head and the token embedding at int8",
    )
    build.add_argument(
        "--weight-only",
        action="store_true",
        help="int8 as 8-bit weights in blocks (MatMulNBits, --block-size, --accuracy-level) "
        "instead of dynamic quantization: closer to fp32",
    )
    build.add_argument(
        "--gptq",
        action="store_true",
        help="int4 or weight-only int8 weights rounded by GPTQ against the planner's own "
        "requests instead of to nearest: closer to fp32, same size and speed, slower build",
    )
    build.add_argument(
        "--int8-share",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="int4 with --gptq: this share of the weight matrices (0-1), those whose output "
        "4-bit rounding moves most, at 8 bits instead",
    )
    build.add_argument(
        "--adapter",
        type=Path,
        default=None,
        help="a LoRA adapter folder (edge-agent-export finetune) to merge before export; "
        "--source default merges the built-in planner adapter unless --no-adapter",
    )
    build.add_argument("--no-adapter", action="store_true", help="export the base weights")
    build.add_argument("--force", action="store_true", help="replace --out if it exists")
    build.add_argument(
        "--keep-current",
        action="store_true",
        help="leave --out as it is if it already holds what this build makes (same source, "
        "adapter, none threshold, graph and quantization; files intact); else build, with "
        "--force to replace it",
    )
    build.add_argument("--offline", action="store_true", help="use only cached sources")
    build.add_argument("--quiet", action="store_true", help="no progress bars")

    inspect = commands.add_parser("inspect", help="show a bundle's manifest and quality report")
    inspect.add_argument("bundle", type=Path)
    inspect.add_argument("--json", action="store_true", help="print the manifest as JSON")

    bench = commands.add_parser(
        "bench", help="build every source x precision; print size, time, memory, quality"
    )
    bench.add_argument(
        "--sources",
        default="smollm2-135m-instruct,gemma3-270m",
        help="comma-separated sources (default: both built-ins)",
    )
    bench.add_argument("--quants", default="fp32,int8,int4", help="comma-separated precisions")
    bench.add_argument(
        "--out", type=Path, default=Path("bundles/bench"), help="folder for the bundles built"
    )
    bench.add_argument("--json", action="store_true", help="print the rows as JSON")

    verify = commands.add_parser("verify", help="check a bundle's files against its manifest")
    verify.add_argument("bundle", type=Path)
    verify.add_argument(
        "--adapter", metavar="FOLDER|default",
        help="also check that the bundle was built with this adapter as it is now (weights "
        "and none threshold); 'default': the committed planner adapter",
    )  # fmt: skip

    for name, text in (
        ("dataset", "generate synthetic homes and requests (train / validation / test sets)"),
        ("finetune", "LoRA-train a source on the planner's task (see finetune --help)"),
        ("average", "average LoRA adapters into one (see average --help)"),
    ):
        commands.add_parser(name, help=text, add_help=False)  # handled before parsing
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # These take their own options; argparse's REMAINDER would not pass a leading "--x".
    if argv[:1] == ["dataset"]:
        from edge_agent_export.dataset import main as dataset_main

        return dataset_main(argv[1:])
    if argv[:1] == ["finetune"]:
        from edge_agent_export.finetune import main as finetune_main

        return finetune_main(argv[1:])
    if argv[:1] == ["average"]:
        from edge_agent_export.adapter_average import main as average_main

        return average_main(argv[1:])
    args = _parser().parse_args(argv)
    setup_logging(args.verbose)
    commands = {"build": _build, "bench": _bench, "inspect": _inspect, "verify": _verify}
    try:
        return commands[args.command](args)
    except (ExportError, BundleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            print(f"error: disk full ({exc.filename or 'while writing'})", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        print("interrupted; no bundle was written", file=sys.stderr)
        return 130


def _build(args: argparse.Namespace) -> int:
    from edge_agent_export.build import build
    from edge_agent_export.quantize import QuantSettings

    if args.weight_only and args.quant != "int8":
        print("error: --weight-only is a kind of int8 (--quant int8)", file=sys.stderr)
        return 2
    if args.gptq and not (args.quant == "int4" or args.weight_only):
        print("error: --gptq rounds block-wise weights: --quant int4, or --quant int8 "
              "--weight-only", file=sys.stderr)  # fmt: skip
        return 2
    if args.int8_share and not (args.quant == "int4" and args.gptq):
        print("error: --int8-share needs --quant int4 --gptq (GPTQ's error picks the "
              "weights)", file=sys.stderr)  # fmt: skip
        return 2
    if not 0 <= args.int8_share <= 1:
        print(f"error: --int8-share is a fraction (0-1), got {args.int8_share}", file=sys.stderr)
        return 2
    settings = QuantSettings(
        precision=args.quant,
        per_channel=not args.per_tensor,
        block_size=args.block_size,
        accuracy_level=args.accuracy_level,
        symmetric=not args.asymmetric,
        quantize_embedding=not args.keep_embedding,
        head_int8=args.int8_head,
        weight_only=args.weight_only,
        gptq=args.gptq,
        eight_bit_share=args.int8_share,
    )
    adapter = None if args.no_adapter else (args.adapter or "default")
    if args.keep_current:
        from edge_agent_export.current import rebuild_reason

        if (why := rebuild_reason(args.out, args.source, settings, args.graph, adapter)) is None:
            print(f"up to date: {args.out} is what this build makes; kept")
            return 0
        print(f"building {args.out}: {why}", file=sys.stderr)
    result = build(
        args.source,
        args.out,
        settings,
        force=args.force,
        offline=args.offline,
        quiet=args.quiet,
        graph=args.graph,
        adapter=adapter,
    )
    print_stages(result.stage_seconds)
    print_manifest(result.bundle.manifest, result.bundle.path)
    print_report(result.report)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from edge_agent_export.bench import bench, print_rows

    rows = bench(args.sources.split(","), args.quants.split(","), args.out)
    print_rows(rows, args.json)
    return 0 if all(r.ok for r in rows) else 1


def _inspect(args: argparse.Namespace) -> int:
    manifest = read_manifest(args.bundle)
    if args.json:
        print(json.dumps(manifest.model_dump(mode="json"), indent=2))
        return 0
    print_manifest(manifest, args.bundle)
    report = args.bundle / (manifest.report_file or "")
    if manifest.report_file and report.is_file():
        from edge_agent_export.quality import QualityReport

        print_report(QualityReport.model_validate_json(report.read_text(encoding="utf-8")))
    return 0


def _verify(args: argparse.Namespace) -> int:
    bundle = open_bundle(args.bundle, verify="always")
    count = len(bundle.manifest.files)
    if args.adapter:
        from edge_agent_export.adapter_meta import stale_for
        from edge_agent_export.sources import DEFAULT_ADAPTER

        adapter = DEFAULT_ADAPTER if args.adapter == "default" else Path(args.adapter)
        if (why := stale_for(bundle.manifest, adapter)) is not None:
            print(f"{bundle.path}: not the bundle this adapter makes now: {why}", file=sys.stderr)
            return 1
    print(f"ok: {bundle.path} ({bundle.manifest.name}): {count} files match the manifest")
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
