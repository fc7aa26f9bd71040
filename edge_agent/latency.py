"""``edge-agent latency``: MQTT request to device command, p50 and p95, on a real broker.

The whole path a user waits on: a client publishes a request, the daemon reads it,
retrieves, runs the model, publishes the command, and the command arrives at the device's
topic (where a subscriber of this benchmark stands in for the device). Run on the demo
home, and again with generated devices added to make a big home (``--extra-devices``),
so the two figures show what a home's size costs.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.config import load_config

NODE = "latency"

REQUESTS = (
    "dim the sofa lamp to 30 percent",
    "turn off the porch light",
    "switch on the coffee machine",
    "close the living room blinds",
    "set the hallway thermostat to 21 degrees",
    "turn on the bedside lamp",
    "turn the bedroom ceiling fan on",
    "switch off the printer plug",
    "turn on the bathroom mirror light",
    "activate movie night",
)
"""Commands on the demo home (the figure is latency, not accuracy: each is asked as is)."""

_AREAS = ("Suite", "Studio", "Lab", "Ward", "Annex", "Loft", "Wing", "Bay", "Den", "Nook")
_KINDS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("Light", "light", {"turn_on": "ON", "turn_off": "OFF", "set_brightness": "{value}"}),
    ("Plug", "switch", {"turn_on": "ON", "turn_off": "OFF"}),
    ("Blind", "cover", {"open": "OPEN", "close": "CLOSE", "set_position": "{value}"}),
    ("Heater", "climate", {"set_temperature": "{value}"}),
    ("Fan", "fan", {"turn_on": "ON", "turn_off": "OFF"}),
)


def extra_devices(count: int) -> list[dict[str, Any]]:
    """``count`` config devices, five kinds per room, in rooms none of the demo's names
    share ("Suite 3 Light", "Lab 12 Blind"...)."""
    devices = []
    for index in range(count):
        room_number, kind = divmod(index, len(_KINDS))
        prefix = _AREAS[room_number % len(_AREAS)]
        area = f"{prefix} {room_number // len(_AREAS) + 1}"
        label, domain, actions = _KINDS[kind]
        topic = f"bench/{area.lower().replace(' ', '_')}/{label.lower()}"
        device: dict[str, Any] = {
            "name": f"{area} {label}",
            "area": area,
            "domain": domain,
            "commands": {
                action: {"topic": f"{topic}/{action}", "payload": payload}
                for action, payload in actions.items()
            },
        }
        if domain == "climate":
            device["ranges"] = {"set_temperature": {"min": 5, "max": 30, "step": 0.5}}
        devices.append(device)
    return devices


class _Watcher:
    """Every message on the broker, with its arrival time."""

    def __init__(self, host: str, port: int) -> None:
        self.arrivals: dict[str, list[tuple[float, str, bytes]]] = {}
        self.online = threading.Event()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{NODE}-watcher")
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.subscribe([("#", 1)])
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        if message.topic == f"edge-agent/{NODE}/status" and message.payload == b"online":
            self.online.set()
        with self._lock:
            seen = self.arrivals.setdefault(message.topic, [])
            seen.append((now, message.topic, bytes(message.payload)))

    def first_after(self, topic: str, since: float) -> float | None:
        with self._lock:
            return next((t for t, _, _ in self.arrivals.get(topic, []) if t >= since), None)

    def response(self, request_id: str) -> dict[str, Any] | None:
        with self._lock:
            for _, _, payload in self.arrivals.get(f"edge-agent/{NODE}/response", []):
                data = json.loads(payload)
                if data.get("id") == request_id:
                    return dict(data)
        return None

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def measure(bundle: Path, extra: int, rounds: int, host: str, port: int) -> dict[str, Any]:
    from edge_agent.demo.simulator import HomeSimulator
    from edge_agent.playground import broker
    from edge_agent.service import serve_in_thread

    with broker(host, port) as (bhost, bport):
        simulator = HomeSimulator(bhost, bport)
        simulator.start()
        watcher = _Watcher(bhost, bport)
        overrides = {
            "node_id": NODE,
            "mqtt": {"host": bhost, "port": bport},
            "model": {"bundle": str(bundle)},
            "logging": {"level": "warning"},
            "devices": extra_devices(extra),
            "policy": {"rate_limit_count": 1_000_000},
        }
        stop = serve_in_thread(load_config(None, overrides=overrides))
        try:
            if not watcher.online.wait(180):
                raise SystemExit("the agent did not come online")
            time.sleep(1.0)  # discovery settles
            return _run(watcher, bhost, bport, rounds)
        finally:
            stop()
            watcher.stop()
            simulator.stop()


def _run(watcher: _Watcher, host: str, port: int, rounds: int) -> dict[str, Any]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{NODE}-client")
    client.connect(host, port)
    client.loop_start()
    to_command: list[float] = []
    to_response: list[float] = []
    no_command = 0
    try:
        for round_number in range(rounds):
            for index, text in enumerate(REQUESTS):
                request_id = f"r{round_number}-{index}"
                sent = time.perf_counter()
                client.publish(
                    f"edge-agent/{NODE}/request",
                    json.dumps({"id": request_id, "text": text}),
                    qos=1,
                )
                answer = _wait(lambda rid=request_id: watcher.response(rid), 60)
                to_response.append((time.perf_counter() - sent) * 1000)
                actions = (answer or {}).get("actions") or []
                arrived = watcher.first_after(actions[0]["topic"], sent) if actions else None
                if arrived is None:
                    no_command += 1
                else:
                    to_command.append((arrived - sent) * 1000)
                time.sleep(0.2)  # one user at a time: no queueing in the figure
    finally:
        client.loop_stop()
        client.disconnect()
    return {
        "requests": len(to_response),
        "without_command": no_command,
        "command_ms": _percentiles(to_command),
        "response_ms": _percentiles(to_response),
    }


def _wait(probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.002)
    return None


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(p95, 1),
        "max": round(ordered[-1], 1),
    }


def main_latency(bundle: Path, extra_sizes: list[int], rounds: int, host: str, port: int) -> int:
    results = {}
    for extra in extra_sizes:
        print(f"[measuring with {extra} extra devices]", file=sys.stderr)
        results[extra] = measure(bundle, extra, rounds, host, port)
    print(f"{'home':<28}{'requests':>9}{'command p50':>13}{'p95':>9}{'reply p50':>11}{'p95':>9}")
    for extra, figures in results.items():
        home = "demo (30 entities)" if extra == 0 else f"demo + {extra} devices"
        command, reply = figures["command_ms"], figures["response_ms"]
        print(
            f"{home:<28}{figures['requests']:>9}{command.get('p50', 0):>11.0f}ms"
            f"{command.get('p95', 0):>7.0f}ms{reply.get('p50', 0):>9.0f}ms"
            f"{reply.get('p95', 0):>7.0f}ms"
        )
        if figures["without_command"]:
            print(f"  ({figures['without_command']} requests sent no command)")
    return 0
