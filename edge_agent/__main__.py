"""``edge-agent``: the device side: ask the agent, list devices, evaluate, benchmark."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edge_agent.agent_cli import add_commands
from edge_agent.agent_cli import run as run_agent_command
from edge_agent.llm.bundle import BundleError, open_bundle
from edge_agent.llm.onnx_lm import SessionSettings
from edge_agent.logs import setup_logging
from edge_agent.model_store import add_commands as add_model_commands
from edge_agent.model_store import run_command as run_model_command
from edge_agent.paths import source_cache_dir
from edge_agent.service import add_commands as add_service_commands
from edge_agent.service import run_command as run_service_command
from edge_agent.voice.listen import add_commands as add_voice_commands


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-agent", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="answer one prompt with a bundle")
    generate.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    generate.add_argument("--max-new-tokens", type=int, default=None)
    generate.add_argument("--threads", type=int, default=0, help="0: onnxruntime's choice")
    generate.add_argument("--raw", action="store_true", help="skip the chat template")
    generate.add_argument(
        "--verify",
        choices=("always", "first", "size"),
        default="first",
        help="hash every file always, on first use only (default), or check sizes only",
    )
    generate.add_argument("prompt", help="the text to answer")

    bench = commands.add_parser("bench", help="measure a bundle's speed and memory")
    bench.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    bench.add_argument(
        "--gguf",
        type=Path,
        default=None,
        help="the source GGUF, to run llama.cpp beside onnxruntime "
        "(needs llama-cpp-python); default: the bundle's cached source",
    )
    bench.add_argument("--no-peer", action="store_true", help="skip llama.cpp")
    bench.add_argument("--threads", type=int, default=2)
    bench.add_argument("--json", action="store_true")
    add_commands(commands)
    add_service_commands(commands)
    add_voice_commands(commands)
    add_model_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        if args.command == "generate":
            return _generate(args)
        if args.command == "bench":
            return _bench(args)
        if args.command == "model":
            return run_model_command(args)
        if args.command in (
            "run",
            "config",
            "try",
            "latency",
            "listen",
            "satellite",
            "voice-bench",
        ):
            return run_service_command(args)
        return run_agent_command(args)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _generate(args: argparse.Namespace) -> int:
    from edge_agent.llm.text import TextModel

    bundle = open_bundle(args.bundle, verify=args.verify)
    model = TextModel.load(bundle, SessionSettings(intra_op_threads=args.threads))
    started = time.perf_counter()
    model.complete(
        args.prompt,
        max_new_tokens=args.max_new_tokens,
        chat=not args.raw,
        on_text=lambda piece: print(piece, end="", flush=True),
    )
    print(flush=True)
    print(
        f"[{bundle.manifest.name}: load {model.lm.load_time_s:.2f} s, "
        f"answer {time.perf_counter() - started:.2f} s]",
        file=sys.stderr,
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from edge_agent.bench import bench, report

    gguf = None if args.no_peer else (args.gguf or _source_gguf(args.bundle))
    if gguf is None and not args.no_peer:
        print("note: no source GGUF found for the llama.cpp peer; pass --gguf FILE",
              file=sys.stderr)  # fmt: skip
    print(report(bench(args.bundle, gguf, args.threads), args.json))
    return 0


def _source_gguf(bundle_dir: Path) -> Path | None:
    """The GGUF the bundle was built from, if it is on this machine."""
    source = open_bundle(bundle_dir, verify="size").manifest.source
    if source.kind == "gguf" and Path(source.ref).is_file():
        return Path(source.ref)
    if source.kind == "builtin":
        found = sorted((source_cache_dir() / source.ref).glob("*.gguf"))
        return found[0] if found else None
    return None


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
