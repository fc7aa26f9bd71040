"""``edge-agent try``: a broker, the demo home and the agent, and a prompt to type into.

Everything real: mosquitto (started on a free port when none answers), the demo home's
simulator publishing its discovery and answering commands, and the daemon serving
``edge-agent/<node>/request``. Each request typed is published like any client would,
and the device commands and the reply are printed as they arrive on the broker.
"""

from __future__ import annotations

import json
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.config import load_config

NODE = "try"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def broker(host: str, port: int) -> Iterator[tuple[str, int]]:
    """The broker at host:port if it answers, else a private mosquitto on a free port."""
    if _reachable(host, port):
        yield host, port
        return
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise SystemExit(f"no broker at {host}:{port} and no mosquitto to start "
                         "(apt-get install mosquitto)")  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        conf = Path(folder) / "mosquitto.conf"
        conf.write_text(f"listener {free} 127.0.0.1\nallow_anonymous true\n")
        process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 5
            while not _reachable("127.0.0.1", free):
                if time.monotonic() > deadline:
                    raise SystemExit("mosquitto did not start")
                time.sleep(0.05)
            print(f"[started mosquitto on 127.0.0.1:{free}]", file=sys.stderr)
            yield "127.0.0.1", free
        finally:
            process.terminate()
            process.wait(5)


def run(bundle: Path, requests: list[str], host: str, port: int) -> int:
    from edge_agent.demo.simulator import HomeSimulator
    from edge_agent.service import serve_in_thread

    with broker(host, port) as (bhost, bport):
        simulator = HomeSimulator(bhost, bport)
        simulator.start()
        overrides = {"node_id": NODE, "mqtt": {"host": bhost, "port": bport},
                     "model": {"bundle": str(bundle)}, "logging": {"level": "warning"}}  # fmt: skip
        config = load_config(None, overrides=overrides)
        stop = serve_in_thread(config)
        try:
            return _converse(bhost, bport, requests)
        finally:
            stop()
            simulator.stop()


def _converse(host: str, port: int, requests: list[str]) -> int:
    inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="edge-agent-try-console")
    client.on_message = lambda c, u, m: inbox.put(m)
    client.connect(host, port)
    topics = [f"edge-agent/{NODE}/#", "+/+/set", "+/+/+/set", "cmnd/#", "homie/+/+/+/set"]
    client.subscribe([(topic, 1) for topic in topics])
    client.loop_start()
    try:
        if not _wait_online(inbox):
            print("the agent did not come online", file=sys.stderr)
            return 1
        interactive = not requests and sys.stdin.isatty()
        lines = requests or ([] if not interactive else None)
        if interactive:
            print("Type a request (Ctrl-D to quit), e.g. 'dim the sofa lamp to 30 percent'.")
        for number, text in enumerate(_lines(lines)):
            request_id = f"t{number}"
            client.publish(f"edge-agent/{NODE}/request",
                           json.dumps({"id": request_id, "text": text}), qos=1)  # fmt: skip
            _show(inbox, request_id)
    finally:
        client.loop_stop()
        client.disconnect()
    return 0


def _lines(given: list[str] | None) -> Iterator[str]:
    if given is not None:
        for text in given:
            print(f"> {text}")
            yield text
        return
    while True:
        try:
            text = input("> ").strip()
        except EOFError:
            print()
            return
        if text:
            yield text


def _wait_online(inbox: queue.Queue[mqtt.MQTTMessage], timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = inbox.get(timeout=0.5)
        except queue.Empty:
            continue
        if message.topic.endswith("/status") and message.payload == b"online":
            return True
    return False


def _show(inbox: queue.Queue[mqtt.MQTTMessage], request_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = inbox.get(timeout=0.5)
        except queue.Empty:
            continue
        if message.topic.endswith("/set") or message.topic.startswith("cmnd/"):
            print(f"  command  {message.topic} <- {message.payload.decode(errors='replace')}")
        elif message.topic == f"edge-agent/{NODE}/response":
            answer = json.loads(message.payload)
            if answer.get("id") != request_id:
                continue
            ms = sum(answer.get("timings_ms", {}).values())
            print(f"  reply    {answer['text']}  [{answer['status']}, {ms:.0f} ms]")
            time.sleep(0.3)  # let the last device commands arrive before the next prompt
            while not inbox.empty():
                late = inbox.get()
                if late.topic.endswith("/set") or late.topic.startswith("cmnd/"):
                    print(f"  command  {late.topic} <- {late.payload.decode(errors='replace')}")
            return
    print("  (no answer)")
