"""The daemon on a real mosquitto: contract, duplicates, bad input, floods, broker restarts."""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mqtt_broker
import paho.mqtt.client as mqtt
import pytest
from mqtt_broker import Broker, MqttClient
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from planner_fakes import intent, planner_for

from edge_agent.daemon import Daemon, DaemonSettings
from edge_agent.messages import Request, Response
from edge_agent.transports.mqtt import LinkSettings

broker = mqtt_broker.broker
broker_factory = mqtt_broker.broker_factory
mqtt_client = mqtt_broker.mqtt_client

BASE = "edge-agent/test"


class CountingHandler:
    """The real planner (scripted model, static home), counting what it is asked."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.planner, _, self.registry = planner_for(lambda _: intent("on", "Kitchen Light"))
        self.planner.policy.config.rate_limit_count = 1_000_000
        self.calls: list[str | None] = []
        self.gate = gate

    def handle(self, request: Request) -> Response:
        if self.gate is not None:
            self.gate.wait(10)
        self.calls.append(request.id)
        return self.planner.handle(request)


class Running:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.loop = asyncio.new_event_loop()
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.code = self.loop.run_until_complete(self.daemon.run())
        finally:
            self.loop.close()

    def stop(self, timeout: float = 8.0) -> None:
        self.loop.call_soon_threadsafe(self.daemon.stop)
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the daemon did not stop"


@pytest.fixture
def start_daemon(broker: Broker) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(
        handler: Any = None,
        *,
        node: str = "test",
        wait: bool = True,
        broker: Broker = broker,
        **settings: Any,
    ) -> Running:
        handler = handler or CountingHandler()
        client_id = f"agent-{node}-{len(started)}"
        link = LinkSettings(host=broker.host, port=broker.port, client_id=client_id,
                            reconnect_min_s=1, reconnect_max_s=2)  # fmt: skip
        loader = settings.pop("loader", None) or (lambda: handler)
        daemon = Daemon(DaemonSettings(node_id=node, **settings), link, handler.registry, loader)
        running = Running(daemon)
        running.thread.start()
        started.append(running)
        if wait:
            deadline = time.monotonic() + 10
            while not (hasattr(daemon, "link") and daemon.link.connected.is_set()):
                assert time.monotonic() < deadline, "the daemon never connected"
                time.sleep(0.05)
            time.sleep(0.2)  # subscriptions acknowledged
        return running

    yield start
    for running in started:
        if running.thread.is_alive():
            running.stop()


def responses(client: MqttClient, topic: str = f"{BASE}/response") -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in client.received() if m.topic == topic]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_request_commands_the_device_and_answers(
    start_daemon: Callable[..., Running], mqtt_client: Callable[[str], MqttClient]
) -> None:
    running = start_daemon()
    client = mqtt_client("tester").connect()
    client.subscribe(f"{BASE}/response", "home/#", f"{BASE}/status")
    client.publish(f"{BASE}/request", json.dumps({"id": "a1", "text": "kitchen light on"}))
    answer = json.loads(client.wait_for(f"{BASE}/response").payload)
    assert answer["id"] == "a1" and answer["status"] == "ok"
    assert answer["actions"][0]["topic"] == "home/kitchen_light/set"
    command = client.wait_for("home/kitchen_light/set")
    assert command.payload == b"ON" and not command.retain
    assert client.wait_for(f"{BASE}/status").payload == b"online"
    assert set(answer["timings_ms"]) >= {"queue", "publish"}
    running.stop()
    assert running.code == 0
    client.wait_for(f"{BASE}/status", b"offline")


def test_bare_text_and_mqtt5_response_topic_with_correlation(
    start_daemon: Callable[..., Running], broker: Broker
) -> None:
    start_daemon()
    got: list[mqtt.MQTTMessage] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda c, u, m: got.append(m)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.subscribe("replies/me", qos=1)
        time.sleep(0.2)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "replies/me"
        props.CorrelationData = b"corr-42"
        client.publish(f"{BASE}/request", "turn on the kitchen light", qos=1, properties=props)
        wait_until(lambda: bool(got))
        assert got[0].properties.CorrelationData == b"corr-42"
        assert json.loads(got[0].payload)["status"] == "ok"
    finally:
        client.loop_stop()
        client.disconnect()


def test_a_redelivered_id_is_answered_again_but_never_executed_twice(
    start_daemon: Callable[..., Running], mqtt_client: Callable[[str], MqttClient]
) -> None:
    handler = CountingHandler()
    start_daemon(handler)
    client = mqtt_client("tester").connect()
    client.subscribe(f"{BASE}/response", "home/#")
    for _ in range(3):
        client.publish(f"{BASE}/request", json.dumps({"id": "same", "text": "light on"}))
    wait_until(lambda: len(responses(client)) == 3)
    assert handler.calls == ["same"]
    assert len([m for m in client.received() if m.topic == "home/kitchen_light/set"]) == 1


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _malformed(rng: random.Random, i: int) -> bytes:
    kind = i % 8
    if kind == 0:  # not UTF-8
        return b"\xff" + rng.randbytes(rng.randrange(0, 200))
    if kind == 1:  # huge
        return rng.randbytes(1) * rng.randrange(17_000, 120_000)
    if kind == 2:  # nested deeper than any parser should follow
        depth = rng.randrange(1_100, 2_700)  # within the size limit: the parser must refuse
        return rng.choice([b'{"a":' * depth + b"1" + b"}" * depth, b"[" * depth + b"]" * depth])
    if kind == 3:  # wrong types
        wrong = [{"id": i, "text": 42}, {"id": [1], "text": "x"}, {"text": {"x": 1}}, [1, 2],
                 3.5, None, True, {"id": "x" * 500, "text": "on"}, {"id": "e"}]  # fmt: skip
        return json.dumps(rng.choice(wrong)).encode()
    if kind == 4:  # empty or blank
        return rng.choice([b"", b"   ", b"\n\t", b'""', b'{"text": "  "}'])
    if kind == 5:  # too long to be a sentence
        return ("lights " * rng.randrange(200, 2_000)).encode()
    return rng.randbytes(rng.randrange(1, 300))  # random bytes: mostly not UTF-8


def test_ten_thousand_malformed_payloads_each_get_one_answer_in_bounded_memory(
    start_daemon: Callable[..., Running], mqtt_client: Callable[[str], MqttClient]
) -> None:
    """Every payload is answered once (an error, or a normal answer when random bytes
    happen to be readable text) or dropped by the documented rule (a refusal while the
    outgoing queue is full); every accepted request is answered; memory levels off."""
    handler = CountingHandler()
    daemon = start_daemon(handler, queue_size=64).daemon
    client = mqtt_client("tester").connect()
    client.subscribe(f"{BASE}/response")
    rng = random.Random(11)
    sent, rss = 0, []

    def accounted() -> int:
        return len(responses(client)) + daemon.unanswered

    # In windows of 500: the broker itself drops QoS 1 messages queued beyond its limit
    # (mosquitto's max_queued_messages, 1000), which is not what this test is about.
    for window in range(20):
        client.publish_many(f"{BASE}/request", [_malformed(rng, sent + i) for i in range(500)])
        sent += 500
        wait_until(lambda total=sent: accounted() >= total, timeout=60)
        if window in (3, 19):
            rss.append(_rss_mb())
    client.publish(f"{BASE}/request", json.dumps({"id": "good", "text": "kitchen light on"}))
    wait_until(lambda: any(r.get("id") == "good" for r in responses(client)), timeout=30)
    answers = responses(client)
    assert accounted() == sent + 1
    assert daemon.unanswered < 0.5 * sent
    codes = {r["error"]["code"] for r in answers if r.get("error")}
    assert {"bad_encoding", "too_large", "too_long", "bad_request"} <= codes
    assert sum(r["status"] == "ok" for r in answers) == len(handler.calls)  # none unanswered
    assert [r["status"] for r in answers if r.get("id") == "good"] == ["ok"]
    assert rss[1] - rss[0] < 40, f"memory grew from {rss[0]:.0f} to {rss[1]:.0f} MB"


def test_a_burst_over_capacity_gets_busy_and_then_recovers(
    start_daemon: Callable[..., Running], mqtt_client: Callable[[str], MqttClient]
) -> None:
    gate = threading.Event()
    handler = CountingHandler(gate)
    start_daemon(handler, queue_size=4)
    client = mqtt_client("tester").connect()
    client.subscribe(f"{BASE}/response")
    for i in range(30):
        client.publish(f"{BASE}/request", json.dumps({"id": f"b{i}", "text": "light on"}))
    wait_until(lambda: sum(r["status"] == "busy" for r in responses(client)) >= 20)
    gate.set()
    wait_until(lambda: len(responses(client)) == 30)
    statuses = [r["status"] for r in responses(client)]
    assert statuses.count("ok") == len(handler.calls) <= 6
    client.publish(f"{BASE}/request", json.dumps({"id": "after", "text": "light on"}))
    wait_until(lambda: any(r["id"] == "after" and r["status"] == "ok" for r in responses(client)))


def test_no_accepted_request_is_lost_or_run_twice_across_a_broker_restart(
    start_daemon: Callable[..., Running], broker_factory: Callable[..., Broker]
) -> None:
    broker = broker_factory(persistent=True)
    handler = CountingHandler()
    start_daemon(handler, broker=broker, queue_size=64)  # the backlog after the outage fits
    answered: list[str] = []
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="steady-tester", clean_session=False
    )
    client.on_message = lambda c, u, m: answered.append(json.loads(m.payload)["id"])
    client.reconnect_delay_set(1, 2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.subscribe(f"{BASE}/response", qos=1)
        time.sleep(0.3)
        sent = []
        for i in range(40):
            if i == 15:
                broker.restart()
            sent.append(f"r{i}")
            payload = json.dumps({"id": f"r{i}", "text": "light on"})
            client.publish(f"{BASE}/request", payload, qos=1)  # queued by paho while down
            time.sleep(0.05)
        wait_until(lambda: set(sent) <= set(answered), timeout=40)
        assert sorted(handler.calls) == sorted(set(handler.calls))  # none executed twice
        assert set(handler.calls) == set(sent)
    finally:
        client.loop_stop()
        client.disconnect()


def test_two_agents_in_a_shared_group_split_the_load_and_survive_one_dying(
    start_daemon: Callable[..., Running], mqtt_client: Callable[[str], MqttClient]
) -> None:
    first, second = CountingHandler(), CountingHandler()
    a = start_daemon(first, node="test", shared_group="fleet")
    start_daemon(second, node="test", shared_group="fleet")
    client = mqtt_client("tester").connect()
    client.subscribe(f"{BASE}/response")
    for i in range(20):
        client.publish(f"{BASE}/request", json.dumps({"id": f"s{i}", "text": "light on"}))
    wait_until(lambda: len(responses(client)) == 20)
    assert first.calls and second.calls and len(first.calls) + len(second.calls) == 20
    a.stop()
    for i in range(5):
        client.publish(f"{BASE}/request", json.dumps({"id": f"t{i}", "text": "light on"}))
    wait_until(lambda: len(responses(client)) == 25)
    assert len(second.calls) >= 5


def test_try_starts_a_broker_the_demo_home_and_the_agent(
    tiny_bundle: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from edge_agent.playground import run

    bundle = tiny_bundle("llama_long_context", "int4")
    # Nothing listens on port 9 here, so it starts its own mosquitto on a free port.
    assert run(bundle, ["dim the sofa lamp to 30 percent"], "127.0.0.1", 9) == 0
    out = capsys.readouterr().out
    assert "> dim the sofa lamp to 30 percent" in out
    assert "  reply    " in out and "(no answer)" not in out


def test_edge_agent_run_serves_and_stops_cleanly_on_sigterm(
    tiny_bundle: Callable[..., Any],
    broker: Broker,
    mqtt_client: Callable[[str], MqttClient],
    tmp_path: Any,
) -> None:
    import signal
    import subprocess
    import sys

    config = tmp_path / "config.toml"
    config.write_text(
        'node_id = "proc"\n[[devices]]\nname = "Hall Light"\narea = "Hall"\ndomain = "light"\n'
        '[devices.commands.turn_on]\ntopic = "hall/light/set"\npayload = "ON"\n'
    )
    client = mqtt_client("watcher").connect()
    client.subscribe("edge-agent/proc/#")
    bundle = tiny_bundle("llama_long_context", "int4")
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config),
         "--mqtt-host", broker.host, "--mqtt-port", str(broker.port), "--bundle", str(bundle)],
        stderr=subprocess.PIPE, env={**os.environ, "EDGE_AGENT_LOGGING__LEVEL": "info"},
    )  # fmt: skip
    try:
        client.wait_for("edge-agent/proc/status", b"online", timeout=60)
        client.publish("edge-agent/proc/request", json.dumps({"id": "p1", "text": "hall light on"}))
        answer = json.loads(client.wait_for("edge-agent/proc/response", timeout=30).payload)
        assert answer["id"] == "p1" and answer["status"] in {"ok", "error", "clarify"}
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert time.monotonic() - started < 5
        client.wait_for("edge-agent/proc/status", b"offline", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(5)
        assert process.stderr is not None
        process.stderr.close()


def test_reload_takes_a_new_model_and_keeps_the_old_one_when_it_fails(
    start_daemon: Callable[..., Running], mqtt_client: Callable[[str], MqttClient]
) -> None:
    """What SIGHUP (``systemctl reload``) does after ``edge-agent model install``."""
    handlers = [CountingHandler(), CountingHandler()]
    loads: list[int] = []

    def load() -> CountingHandler:
        loads.append(1)
        if len(loads) == 3:
            raise RuntimeError("the new bundle is broken")
        return handlers[len(loads) - 1]

    running = start_daemon(handlers[0], loader=load)
    daemon = running.daemon
    client = mqtt_client("tester").connect()
    client.subscribe(f"{BASE}/response")

    def ask(request_id: str) -> None:
        client.publish(f"{BASE}/request", json.dumps({"id": request_id, "text": "light on"}))
        wait_until(lambda: any(r.get("id") == request_id for r in responses(client)))

    ask("before")
    running.loop.call_soon_threadsafe(daemon.reload)
    ask("after")
    assert [len(h.calls) for h in handlers] == [1, 1] and daemon.reloads == 1
    running.loop.call_soon_threadsafe(daemon.reload)
    ask("after-broken")
    assert len(loads) == 3 and daemon.reloads == 1
    assert [len(h.calls) for h in handlers] == [1, 2]  # the working model kept serving
