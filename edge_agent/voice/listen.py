"""``edge-agent listen`` and ``edge-agent satellite``: the voice path from the command line.

``listen --wav FILE`` runs a recording through the whole voice path (end of utterance,
wake phrase, recognizer, the agent) with the planner in this process and nothing sent
anywhere: it prints what it heard, the commands the agent would send and the reply.
``satellite`` listens to a microphone (or a file) and talks to an agent over MQTT.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from edge_agent.config import Config


def add_commands(commands: Any) -> None:
    listen = commands.add_parser(
        "listen",
        help="run the voice path on a WAV file and print "
        "what was heard, the commands and the reply",
    )
    listen.add_argument("--wav", type=Path, required=True, help="16-bit PCM WAV (any rate)")
    listen.add_argument("--config", type=Path, default=None)
    listen.add_argument("--bundle", type=Path, default=None, help="the model bundle folder")
    listen.add_argument("--demo", action="store_true", help="use the demo home's devices")
    listen.add_argument("--no-wake", action="store_true", help="no wake phrase needed")

    bench = commands.add_parser(
        "voice-bench", help="benchmark the voice path on synthesized speech with the real model"
    )
    bench.add_argument("--bundle", type=Path, default=Path("bundles/default-int4"))
    bench.add_argument(
        "--model-only",
        action="store_true",
        help="send every request to the model (no direct reading of grammar commands)",
    )
    bench.add_argument(
        "--voices",
        default=None,
        help="engine:voice pairs, comma-separated (default: espeak-ng:en-us,flite:slt,"
        "espeak-ng:en-gb,flite:kal); e.g. espeak-ng:en-gb-scotland,flite:awb",
    )

    satellite = commands.add_parser(
        "satellite", help="a microphone in front of an agent, over MQTT"
    )
    satellite.add_argument("--config", type=Path, default=None)
    satellite.add_argument("--mqtt-host", default=None)
    satellite.add_argument("--mqtt-port", type=int, default=None)
    satellite.add_argument("--node-id", default=None, help="the agent to talk to")
    satellite.add_argument("--wav", type=Path, default=None, help="a file instead of a microphone")
    satellite.add_argument("--device", default=None, help="microphone name or index")


def listen(args: argparse.Namespace, config: Config) -> int:
    from edge_agent.messages import Context, Request
    from edge_agent.service import build_registry, load_planner
    from edge_agent.voice.audio import frames, read_wav
    from edge_agent.voice.satellite import recognizer_for, voice_settings
    from edge_agent.voice.session import VoiceSession

    try:
        samples = read_wav(args.wav)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.demo:
        from edge_agent.demo.fixtures import demo_registry

        registry = demo_registry()
    else:
        registry = build_registry(config)
    planner = load_planner(config, registry)

    def ask(text: str, area: str | None) -> Any:
        return planner.handle(Request(text=text, context=Context(area=area, source="voice")))

    settings = voice_settings(config)
    if args.no_wake:
        settings.wake = None
    session = VoiceSession(recognizer_for(config), registry, ask, settings)
    turns = [t for t in (session.feed(f) for f in frames(samples)) if t is not None]
    last = session.flush()
    turns += [last] if last is not None else []
    if not turns:
        print("heard nothing (no speech found)")
    for turn in turns:
        if turn.outcome == "silence":
            continue
        verdict = "" if turn.heard.accepted else " (not a command for this home)"
        print(f'heard: "{turn.heard.text}"{verdict} -> {turn.outcome}')
        if turn.response is not None:
            for action in turn.response.actions:
                print(f"  command: {action.topic} {action.payload}")
            print(f"  reply: {turn.response.text}")
        print(f"  timings (ms): {turn.timings_ms}")
    return 0


def satellite(args: argparse.Namespace, config: Config) -> int:
    from edge_agent.service import build_registry
    from edge_agent.voice.audio import frames, read_wav
    from edge_agent.voice.satellite import VoiceSatellite, microphone_frames

    node = VoiceSatellite(config, build_registry(config))
    node.start()
    stop = threading.Event()
    try:
        if args.wav is not None:
            node.listen(frames(read_wav(args.wav)))
        else:
            device = int(args.device) if args.device and args.device.isdigit() else args.device
            node.listen(microphone_frames(device or config.voice.device, stop))
    except KeyboardInterrupt:
        stop.set()
    finally:
        node.stop()
    return 0
