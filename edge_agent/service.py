"""``edge-agent run`` and ``edge-agent config``: the daemon assembled from the config."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_agent.config import Config, ConfigError, default_config_toml, load_config
from edge_agent.daemon import Daemon, DaemonSettings, Handler
from edge_agent.devices.adapter import Adapter
from edge_agent.devices.registry import Registry
from edge_agent.transports.mqtt import LinkSettings

log = logging.getLogger(__name__)


def add_commands(commands: Any) -> None:
    run = commands.add_parser("run", help="serve requests on MQTT (the systemd service)")
    run.add_argument("--config", type=Path, default=None, help="TOML config file")
    run.add_argument("--mqtt-host", default=None)
    run.add_argument("--mqtt-port", type=int, default=None)
    run.add_argument("--node-id", default=None, help="this agent's name in its topics")
    run.add_argument("--bundle", type=Path, default=None, help="the model bundle folder")

    play = commands.add_parser(
        "try", help="a broker, the demo home and the agent, and a prompt to type requests into"
    )
    play.add_argument("--bundle", type=Path, default=Path("bundles/default-int4"))
    play.add_argument("--mqtt-host", default="localhost")
    play.add_argument("--mqtt-port", type=int, default=1883)
    play.add_argument("requests", nargs="*", help="requests to send (default: type them)")

    latency = commands.add_parser(
        "latency", help="benchmark: MQTT request to device command, p50/p95, on a real broker"
    )
    latency.add_argument("--bundle", type=Path, default=Path("bundles/default-int4"))
    latency.add_argument(
        "--extra-devices", type=int, nargs="+", default=[0, 480],
        help="generated devices added to the demo home (20 devices), one run per figure",
    )  # fmt: skip
    latency.add_argument("--rounds", type=int, default=3, help="times each request is sent")
    latency.add_argument("--mqtt-host", default="localhost")
    latency.add_argument("--mqtt-port", type=int, default=1883)

    config = commands.add_parser("config", help="check a config file or print the defaults")
    config.add_argument("--config", type=Path, default=None)
    config.add_argument("--print-defaults", action="store_true",
                        help="print a commented example config with every default")  # fmt: skip


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "node_id": getattr(args, "node_id", None),
        "mqtt": {
            "host": getattr(args, "mqtt_host", None),
            "port": getattr(args, "mqtt_port", None),
        },
        "model": {"bundle": getattr(args, "bundle", None)},
    }


def run_command(args: argparse.Namespace) -> int:
    if args.command in ("listen", "satellite", "voice-bench"):
        return _voice_command(args)
    if args.command == "try":
        from edge_agent.playground import run as play

        return play(args.bundle, args.requests, args.mqtt_host, args.mqtt_port)
    if args.command == "latency":
        from edge_agent.latency import main_latency

        return main_latency(args.bundle, args.extra_devices, args.rounds, args.mqtt_host,
                            args.mqtt_port)  # fmt: skip
    if args.command == "config" and args.print_defaults:
        with contextlib.suppress(BrokenPipeError):  # `| head` is fine
            print(default_config_toml())
        return 0
    try:
        config = load_config(args.config, overrides=_overrides(args))
    except ConfigError as error:
        print(f"error: invalid config: {error}", file=sys.stderr)
        return 2
    if args.command == "config":
        broker = f"{config.mqtt.host}:{config.mqtt.port}"
        print(f"ok: {args.config or 'defaults'}: node {config.node_id}, broker {broker}, "
              f"bundle {config.model.bundle}")  # fmt: skip
        return 0
    return serve(config)


def _voice_command(args: argparse.Namespace) -> int:
    if args.command == "voice-bench":
        from edge_agent.voice.bench import VOICES, parse_voices
        from edge_agent.voice.bench import run as voice_bench

        try:
            voices = parse_voices(args.voices) if args.voices else VOICES
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return voice_bench(args.bundle, shortcut=not args.model_only, voices=voices)
    from edge_agent.voice import listen

    try:
        config = load_config(args.config, overrides=_overrides(args))
    except ConfigError as error:
        print(f"error: invalid config: {error}", file=sys.stderr)
        return 2
    return (
        listen.listen(args, config) if args.command == "listen" else listen.satellite(args, config)
    )


def build_registry(config: Config) -> Registry:
    from edge_agent.devices.homeassistant import HomeAssistantAdapter
    from edge_agent.devices.homie import HomieAdapter
    from edge_agent.devices.tasmota import TasmotaAdapter
    from edge_agent.devices.zigbee2mqtt import Zigbee2MqttAdapter

    m = config.mqtt
    adapters: list[Adapter] = []
    if m.discover_homeassistant:
        adapters.append(HomeAssistantAdapter(m.homeassistant_prefix))
    if m.discover_zigbee2mqtt:
        adapters.append(Zigbee2MqttAdapter(m.zigbee2mqtt_base))
    if m.discover_tasmota:
        adapters.append(TasmotaAdapter(m.tasmota_prefix))
    if m.discover_homie:
        adapters.append(HomieAdapter(m.homie_root))
    registry = Registry(adapters)
    registry.add(device.entity() for device in config.devices)
    return registry


def load_planner(config: Config, registry: Registry) -> Handler:
    """Open and check the bundle, load the model and warm the prompt's prefix cache."""
    from edge_agent.agent.planner import Planner
    from edge_agent.agent.policy import Policy
    from edge_agent.llm.bundle import open_bundle
    from edge_agent.llm.structured import JsonModel
    from edge_agent.llm.text import TextModel
    from edge_agent.voice.spoken_intent import SpokenCommands

    bundle = open_bundle(config.model.bundle, verify=config.model.verify)
    model = JsonModel(TextModel.load(bundle, config.model.session_settings()))
    threshold = config.agent.none_threshold
    if threshold is None:
        threshold = bundle.manifest.planner_none_threshold
    planner = Planner(model, registry, Policy(config.policy), candidates=config.agent.candidates,
                      prompt_style=bundle.manifest.planner_prompt,
                      spoken=SpokenCommands(registry.entities),
                      none_threshold=threshold)  # fmt: skip
    model.warm_up(planner.prefix)
    log.info("model %s loaded; prompt prefix cached", bundle.manifest.name)
    return planner


def make_daemon(config: Config, notifier: Any = None, beat: Any = None) -> Daemon:
    m = config.mqtt
    link = LinkSettings(
        host=m.host, port=m.port, protocol=m.protocol,
        client_id=m.client_id or f"edge-agent-{config.node_id}",
        username=m.username, password=m.password(), tls=m.tls.enabled,
        ca_file=_path(m.tls.ca_file), cert_file=_path(m.tls.cert_file),
        key_file=_path(m.tls.key_file), tls_insecure=m.tls.insecure, keepalive_s=m.keepalive_s,
        reconnect_min_s=m.reconnect_min_s, reconnect_max_s=m.reconnect_max_s,
        session_expiry_s=m.session_expiry_s,
    )  # fmt: skip
    settings = DaemonSettings(
        node_id=config.node_id, base_topic=config.base_topic,
        queue_size=config.agent.request_queue, dedupe_size=config.agent.dedupe_cache,
        message_expiry_s=m.message_expiry_s, shared_group=m.shared_group,
        homeassistant_prefix=m.homeassistant_prefix, publish_discovery=m.publish_ha_discovery,
        area=config.agent.area, max_request_chars=config.agent.max_request_chars,
    )  # fmt: skip
    registry = build_registry(config)
    return Daemon(settings, link, registry, lambda: load_planner(config, registry),
                  notifier=notifier, beat=beat or (lambda: None))  # fmt: skip


def serve(config: Config) -> int:
    from edge_agent.llm.bundle import BundleError
    from edge_agent.systemd import Notifier, Watchdog, setup_daemon_logging

    setup_daemon_logging(config.logging.level, config.logging.journald)
    notifier = Notifier()
    watchdog = Watchdog.from_notifier(notifier)
    try:
        daemon = make_daemon(config, notifier, watchdog.beat if watchdog else None)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    async def main() -> int:
        pinger = asyncio.create_task(watchdog.run(notifier)) if watchdog else None
        stop_voice = None
        if config.voice.enabled:
            from edge_agent.voice.satellite import start_beside_daemon

            stop_voice = start_beside_daemon(config)
        try:
            return await daemon.run()
        finally:
            if stop_voice is not None:
                stop_voice()
            if pinger is not None:
                pinger.cancel()

    try:
        return asyncio.run(main())
    except BundleError as error:
        log.error("cannot load the model: %s", error)
        return 2
    except KeyboardInterrupt:
        return 0


def serve_in_thread(config: Config) -> Callable[[], None]:
    """Run the daemon in a background thread; returns the function that stops it."""
    daemon = make_daemon(config)
    loop = asyncio.new_event_loop()

    def run() -> None:
        try:
            loop.run_until_complete(daemon.run())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="edge-agent-daemon", daemon=True)
    thread.start()

    def stop() -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(daemon.stop)
        thread.join(10)

    return stop


def _path(value: Path | str | None) -> str | None:
    return None if value is None else str(value)
