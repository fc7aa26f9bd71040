"""``edge-agent ask | devices | eval``: the agent from the command line, without MQTT."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge_agent.llm.onnx_lm import SessionSettings


def add_commands(commands: Any) -> None:
    ask = commands.add_parser(
        "ask", help="one request through the planner: intent, commands, reply"
    )
    ask.add_argument("text")
    _model_options(ask)
    _devices_option(ask)
    ask.add_argument("--area", default=None, help="the satellite's area, for 'in here'")
    ask.add_argument("--json", action="store_true", help="print the response as JSON")

    devices = commands.add_parser("devices", help="the device registry as discovered")
    _devices_option(devices)
    devices.add_argument("--json", action="store_true")

    ev = commands.add_parser("eval", help="exact-command accuracy over sentence sets")
    _model_options(ev)
    ev.add_argument(
        "--set",
        action="append",
        dest="sets",
        default=None,
        help="a built-in set name or a set file (repeatable; default: all built-in)",
    )
    ev.add_argument("--limit", type=int, default=None, help="first N cases of each set")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--errors", action="store_true", help="list the cases it got wrong")
    ev.add_argument("--none-threshold", type=float, default=None,
                    help="answer none when the model gives naming no device at least "
                         "this probability (default: the bundle's calibrated value)")  # fmt: skip
    ev.add_argument("--none-sweep", action="store_true",
                    help="run without a none threshold and print what each would have "
                         "scored (to calibrate one on a held-out set)")  # fmt: skip


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    parser.add_argument("--threads", type=int, default=0, help="0: onnxruntime's choice")


def _devices_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=Path, default=None,
                        help="a JSON list of MQTT messages (topic, payload) to discover "
                             "devices from; default: the demo home")  # fmt: skip


def _registry(path: Path | None) -> Any:
    from edge_agent.demo.fixtures import demo_registry

    return demo_registry(path)


def _model(args: argparse.Namespace) -> Any:
    from edge_agent.llm.bundle import open_bundle
    from edge_agent.llm.structured import JsonModel
    from edge_agent.llm.text import TextModel

    bundle = open_bundle(args.bundle)
    return JsonModel(TextModel.load(bundle, SessionSettings(intra_op_threads=args.threads)))


def run(args: argparse.Namespace) -> int:
    if args.command == "devices":
        return _devices(args)
    if args.command == "ask":
        return _ask(args)
    return _eval(args)


def _devices(args: argparse.Namespace) -> int:
    registry = _registry(args.devices)
    entities = sorted(registry.entities(), key=lambda e: (e.area or "", e.name))
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in entities], indent=2))
        return 0
    for e in entities:
        state = ", ".join(f"{k}={v}" for k, v in e.state.items()) or "no state yet"
        print(f"{e.name:32} {e.domain:13} {e.area or '-':14} {','.join(e.actions) or '-':40} "
              f"{state}  [{e.id}]")  # fmt: skip
    return 0


def _ask(args: argparse.Namespace) -> int:
    from edge_agent.agent.planner import Planner
    from edge_agent.agent.policy import Policy, PolicyConfig
    from edge_agent.messages import Context, Request

    registry = _registry(args.devices)
    model = _model(args)
    style = model.model.bundle.manifest.planner_prompt
    planner = Planner(model, registry, Policy(PolicyConfig()), prompt_style=style)
    response = planner.handle(Request(text=args.text, context=Context(area=args.area)))
    if args.json:
        print(response.model_dump_json(indent=2))
        return 0 if response.status != "error" else 1
    print(f"intent:  {json.dumps(response.intent)}")
    for action in response.actions:
        print(f"command: {action.topic} <- {action.payload}")
    print(f"reply:   {response.text}  [{response.status}]")
    if model.last is not None:
        last = model.last
        print(f"[{last.prompt_tokens} prompt tokens, {last.cached_tokens} cached; "
              f"{len(last.token_ids)} generated, {last.forced_tokens} forced; "
              f"{(last.prefill_s + last.decode_s) * 1000:.0f} ms]", file=sys.stderr)  # fmt: skip
    return 0 if response.status != "error" else 1


def _eval(args: argparse.Namespace) -> int:
    from edge_agent.agent.evalset import EvalSet, builtin_sets
    from edge_agent.agent.evaluate import evaluate, none_sweep

    known = builtin_sets()
    paths = [known.get(s, Path(s)) for s in (args.sets or list(known))]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"error: no such set: {', '.join(missing)}; built-in: {', '.join(known)}",
              file=sys.stderr)  # fmt: skip
        return 2
    model = _model(args)
    summaries = []
    for path in paths:
        manifest = model.model.bundle.manifest
        threshold = args.none_threshold if args.none_threshold is not None else (
            manifest.planner_none_threshold)  # fmt: skip
        threshold = None if args.none_sweep else threshold
        report = evaluate(EvalSet.load(path), model, limit=args.limit,
                          prompt_style=manifest.planner_prompt,
                          none_threshold=threshold)  # fmt: skip
        summary = report.summary()
        summary["bundle"] = str(args.bundle)
        summary["none_threshold"] = threshold
        if args.none_sweep:
            summary["none_sweep"] = none_sweep(report)
        summaries.append(summary)
        if args.errors:
            for o in report.outcomes:
                if not o.correct:
                    print(f"  x [{o.case.family}] {o.case.text!r}: got {o.got} "
                          f"intent {json.dumps(o.response.intent)}", file=sys.stderr)  # fmt: skip
    if args.json:
        print(json.dumps(summaries, indent=2))
        return 0
    for s in summaries:
        kinds = ", ".join(f"{k} {v['exact']:.1%} of {v['cases']}" for k, v in s["by_kind"].items())
        print(f"{s['set']}: {s['exact']:.1%} exact of {s['cases']} ({kinds}); "
              f"median {s['median_ms']:.0f} ms a request")  # fmt: skip
        for row in s.get("none_sweep", []):
            print(f"  none threshold {row['none_threshold']}: {row['exact']:.1%} exact "
                  f"(command {row['command']:.1%}, query {row['query']:.1%}, "
                  f"none {row['none']:.1%})")  # fmt: skip
    return 0
