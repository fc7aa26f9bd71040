"""The demo home: its devices as every ecosystem announces them, and the simulator answering
commands rendered by the registry, offline and on a real mosquitto broker."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mqtt_broker
import pytest
from mqtt_broker import Broker, MqttClient

from edge_agent.demo.fixtures import (
    DEMO_FLOORS,
    demo_registry,
    load_messages,
    new_registry,
)
from edge_agent.demo.simulator import HomeModel, HomeSimulator
from edge_agent.devices.adapter import DeviceCommand, MqttMessage
from edge_agent.devices.model import Action, Entity
from edge_agent.devices.registry import Registry

# The broker fixtures, under the names the tests ask for.
broker = mqtt_broker.broker
broker_factory = mqtt_broker.broker_factory
mqtt_client = mqtt_broker.mqtt_client

ON_OFF: list[Action] = ["turn_on", "turn_off", "toggle"]
CLIMATE: list[Action] = ["set_temperature", "set_hvac_mode", "turn_off"]
DEVICES: dict[str, tuple[str | None, str, str, list[Action]]] = {
    # name: (area, ecosystem, domain, actions)
    "Kitchen Ceiling Light": (
        "Kitchen", "homeassistant", "light", [*ON_OFF, "set_brightness", "set_color_temp"]
    ),
    "Sofa Lamp": ("Living Room", "homeassistant", "light", [*ON_OFF, "set_brightness"]),
    "Coffee Machine": ("Kitchen", "homeassistant", "switch", ON_OFF),
    "Living Room Blinds": (
        "Living Room", "homeassistant", "cover", ["open", "close", "stop", "set_position"]
    ),
    "Garage Door": ("Garage", "homeassistant", "cover", ["open", "close", "stop"]),
    "Front Door Lock": ("Hallway", "homeassistant", "lock", ["lock", "unlock"]),
    "Hallway Thermostat": ("Hallway", "homeassistant", "climate", CLIMATE),
    "Kitchen Multisensor Temperature": ("Kitchen", "homeassistant", "sensor", []),
    "Kitchen Multisensor Humidity": ("Kitchen", "homeassistant", "sensor", []),
    "Kitchen Multisensor Motion": ("Kitchen", "homeassistant", "binary_sensor", []),
    "Outdoor Temperature": (None, "homeassistant", "sensor", []),
    "Back Door": ("Kitchen", "homeassistant", "binary_sensor", []),
    "Movie Night": (None, "homeassistant", "scene", ["activate"]),
    "Bathroom Mirror Light": ("Bathroom", "homeassistant", "light", ON_OFF),
    "Bedroom Ceiling Fan": ("Bedroom", "homeassistant", "fan", [*ON_OFF, "set_fan_percentage"]),
    "Bedside Lamp": (
        "Bedroom", "zigbee2mqtt", "light",
        [*ON_OFF, "set_brightness", "set_color_temp", "set_color"],
    ),
    "Printer Plug": ("Office", "zigbee2mqtt", "switch", ON_OFF),
    "Printer Plug power": ("Office", "zigbee2mqtt", "sensor", []),
    "Printer Plug energy": ("Office", "zigbee2mqtt", "sensor", []),
    "Bathroom Sensor temperature": ("Bathroom", "zigbee2mqtt", "sensor", []),
    "Bathroom Sensor humidity": ("Bathroom", "zigbee2mqtt", "sensor", []),
    "Bathroom Sensor pressure": ("Bathroom", "zigbee2mqtt", "sensor", []),
    "Bathroom Sensor battery": ("Bathroom", "zigbee2mqtt", "sensor", []),
    "Window contact": ("Kids Room", "zigbee2mqtt", "binary_sensor", []),
    "Window battery": ("Kids Room", "zigbee2mqtt", "sensor", []),
    "Radiator": ("Kids Room", "zigbee2mqtt", "climate", CLIMATE),
    "Radiator battery": ("Kids Room", "zigbee2mqtt", "sensor", []),
    "Garden Lights": (None, "tasmota", "switch", ON_OFF),
    "Porch Light": (None, "tasmota", "switch", ON_OFF),
    "Bathroom Floor Heating": (None, "homie", "climate", CLIMATE),
}  # fmt: skip


def by_name(registry: Registry) -> dict[str, Entity]:
    return {entity.name: entity for entity in registry.entities()}


# -- the home as the registry sees it ---------------------------------------------------------


def test_every_device_has_its_name_area_ecosystem_and_actions() -> None:
    registry = demo_registry()
    found = {
        entity.name: (entity.area, entity.ecosystem, entity.domain, sorted(entity.actions))
        for entity in registry.entities()
    }
    expected = {
        name: (area, ecosystem, domain, sorted(actions))
        for name, (area, ecosystem, domain, actions) in DEVICES.items()
    }
    assert found == expected
    assert {e.ecosystem for e in registry.entities()} == {
        "homeassistant", "zigbee2mqtt", "tasmota", "homie"
    }  # fmt: skip


def test_areas_lie_on_two_floors() -> None:
    registry = demo_registry()
    assert registry.areas() == sorted(DEMO_FLOORS)
    assert registry.floors() == ["Downstairs", "Upstairs"]
    entities = by_name(registry)
    assert entities["Kitchen Ceiling Light"].floor == "Downstairs"
    assert entities["Bedside Lamp"].floor == "Upstairs"
    assert entities["Garden Lights"].floor is None  # no area, no floor


def test_state_questions_have_answers() -> None:
    entities = by_name(demo_registry())
    assert entities["Kitchen Ceiling Light"].state == {"on": True, "brightness": 75}
    assert entities["Kitchen Ceiling Light"].available is True
    assert entities["Sofa Lamp"].state == {"on": True, "brightness": 50}
    assert entities["Living Room Blinds"].state == {"open": True, "position": 60}
    assert entities["Garage Door"].state == {"open": False}
    assert entities["Front Door Lock"].state == {"locked": True}
    assert entities["Hallway Thermostat"].state == {
        "hvac_mode": "heat", "temperature": 20.5, "current_temperature": 19.8
    }  # fmt: skip
    assert entities["Outdoor Temperature"].state == {"value": 7.4, "unit": "°C"}
    assert entities["Kitchen Multisensor Humidity"].state["value"] == 48
    assert entities["Bedroom Ceiling Fan"].state == {"on": False, "percentage": 33}
    assert entities["Bedside Lamp"].state["on"] is False
    assert entities["Bathroom Sensor temperature"].state == {"value": 22.4}
    assert entities["Window contact"].state["open"] is False
    assert entities["Radiator"].state["temperature"] == 19.0
    assert entities["Garden Lights"].state == {"on": False}
    assert entities["Porch Light"].state == {"on": True}
    assert entities["Porch Light"].available is True
    assert entities["Bathroom Floor Heating"].state == {
        "temperature": 21.5, "current_temperature": 20.1, "hvac_mode": "heat"
    }  # fmt: skip
    assert entities["Bathroom Floor Heating"].available is True
    stateless = [e.name for e in entities.values() if not e.state and e.domain != "scene"]
    assert stateless == []


def test_messages_are_retained_discovery_then_state() -> None:
    messages = load_messages()
    assert all(retain for _, _, retain in messages)
    topics = [topic for topic, _, _ in messages]
    assert len(topics) == len(set(topics))
    assert "homeassistant/device/kitchen_multisensor/config" in topics
    devices = json.loads(dict((t, p) for t, p, _ in messages)["zigbee2mqtt/bridge/devices"])
    assert len(devices) == 6  # the coordinator and five devices


def test_a_home_file_in_any_order(tmp_path: Path) -> None:
    """``edge-agent ask --devices FILE`` reads the same format: states may come first."""
    home = tmp_path / "home.json"
    home.write_text(
        json.dumps(
            [
                {"topic": "garden/pump/state", "payload": "ON", "retain": True},
                {
                    "topic": "homeassistant/switch/pump/config",
                    "payload": {"name": "Pump", "cmd_t": "garden/pump/set", "stat_t": "~/state",
                                "~": "garden/pump"},
                },
            ]
        )
    )  # fmt: skip
    (pump,) = demo_registry(home).entities()
    assert (pump.name, pump.state, pump.floor) == ("Pump", {"on": True}, None)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"topic": "a"}', "JSON list"),
        ("[1]", "entry 0"),
        ('[{"topic": "a/#", "payload": "x"}]', "wildcards"),
        ('[{"topic": "a", "payload": "x", "retain": "yes"}]', "retain"),
        ('[{"topic": "a", "payload": "x", "qos": 1}]', "entry 0"),
        ("[", "not JSON"),
    ],
)
def test_a_broken_home_file_is_named(tmp_path: Path, content: str, problem: str) -> None:
    home = tmp_path / "home.json"
    home.write_text(content)
    with pytest.raises(ValueError, match=problem):
        load_messages(home)


# -- the devices answer commands (no broker) --------------------------------------------------

COMMANDS: list[tuple[str, Action, float | str | None, dict[str, Any]]] = [
    ("Kitchen Ceiling Light", "turn_off", None, {"on": False}),
    ("Kitchen Ceiling Light", "set_brightness", 40, {"on": True, "brightness": 40}),
    ("Sofa Lamp", "turn_off", None, {"on": False, "brightness": 50}),
    ("Sofa Lamp", "set_brightness", 30, {"on": True, "brightness": 30}),
    ("Coffee Machine", "toggle", None, {"on": True}),
    ("Living Room Blinds", "set_position", 25, {"open": True, "position": 25}),
    ("Living Room Blinds", "close", None, {"open": False, "position": 0}),
    ("Garage Door", "open", None, {"open": True}),
    ("Front Door Lock", "unlock", None, {"locked": False}),
    ("Hallway Thermostat", "set_temperature", 22.5, {"temperature": 22.5}),
    ("Hallway Thermostat", "turn_off", None, {"hvac_mode": "off"}),
    ("Bathroom Mirror Light", "turn_on", None, {"on": True}),
    ("Bedroom Ceiling Fan", "set_fan_percentage", 100, {"on": True, "percentage": 100}),
    ("Bedside Lamp", "set_brightness", 60, {"on": True, "brightness": 60}),
    ("Bedside Lamp", "set_color_temp", 4000, {"color_temp": 4000}),
    ("Bedside Lamp", "toggle", None, {"on": True}),
    ("Printer Plug", "turn_off", None, {"on": False}),
    ("Radiator", "set_temperature", 21.5, {"temperature": 21.5}),
    ("Radiator", "set_hvac_mode", "auto", {"hvac_mode": "auto"}),
    ("Garden Lights", "turn_on", None, {"on": True}),
    ("Porch Light", "toggle", None, {"on": False}),
    ("Bathroom Floor Heating", "set_temperature", 23, {"temperature": 23.0}),
    ("Bathroom Floor Heating", "set_hvac_mode", "off", {"hvac_mode": "off"}),
]


@pytest.mark.parametrize(
    ("name", "action", "value", "expected"), COMMANDS, ids=[f"{c[0]}-{c[1]}" for c in COMMANDS]
)
def test_the_model_answers_a_rendered_command(
    name: str, action: Action, value: float | str | None, expected: dict[str, Any]
) -> None:
    registry = demo_registry()
    model = HomeModel(load_messages())
    entity = by_name(registry)[name]
    commands = registry.render(DeviceCommand(entity.id, action, value))
    assert commands and all(c.topic in model.command_topics() for c in commands)
    answer = [m for c in commands for m in model.handle(c.topic, c.payload.encode())]
    assert answer, "the device said nothing"
    for message in answer:
        registry.handle(message.topic, message.payload.encode())
    assert entity.state | expected == entity.state, entity.state


def test_every_commandable_entity_is_listened_to() -> None:
    model = HomeModel(load_messages())
    registry = demo_registry()
    for entity in registry.entities():
        for action in entity.actions:
            value: float | str | None = None
            if action in entity.ranges:
                value = entity.ranges[action].max
            elif action in entity.options:
                value = entity.options[action][0]
            for command in registry.render(DeviceCommand(entity.id, action, value)):
                assert command.topic in model.command_topics(), (entity.name, action)


def test_the_model_ignores_what_devices_ignore() -> None:
    model = HomeModel(load_messages())
    assert model.handle("home/garage/door/set", b"STOP") == []
    assert model.handle("home/hallway/thermostat/mode/set", b"cool") == []  # not one of its modes
    assert model.handle("zigbee2mqtt/Office/Printer Plug/set", b"not json") == []
    topic = "homie/5/bathroom-floor-heating/heating/target-temperature"
    assert model.handle(f"{topic}/set", b"99") == []  # outside 5:30
    assert model.handle("cmnd/outdoor_relay/POWER1", b"BLINK") == []
    assert model.handle("some/other/topic", b"ON") == []
    assert model.handle("home/scenes/movie_night/set", b"ON") == []  # a scene has no state
    assert model.state(topic) == "21.5"


def test_tasmota_answers_like_tasmota() -> None:
    model = HomeModel(load_messages())
    answer = model.handle("cmnd/outdoor_relay/POWER1", b"ON")
    assert answer == [
        MqttMessage("stat/outdoor_relay/RESULT", '{"POWER1": "ON"}', retain=False),
        MqttMessage("stat/outdoor_relay/POWER1", "ON", retain=False),
        MqttMessage("tele/outdoor_relay/STATE", answer[2].payload, retain=True),
    ]
    assert json.loads(answer[2].payload)["POWER1"] == "ON"
    assert json.loads(answer[2].payload)["POWER2"] == "ON"  # the other relay is untouched


def test_announcements_carry_the_current_state() -> None:
    model = HomeModel(load_messages())
    model.handle("home/kitchen/ceiling_light/set", b"OFF")
    announced = {m.topic: m for m in model.announcements()}
    assert announced["home/kitchen/ceiling_light/state"].payload == "OFF"
    assert all(m.retain for m in announced.values())
    assert len(announced) == len(load_messages())


# -- on a real broker -------------------------------------------------------------------------


class RegistryWatcher:
    """What the agent's daemon does: a registry fed from the broker, subscribing to each
    state topic as discovery reveals it (a retained state is sent again on that subscribe)."""

    def __init__(self, client: MqttClient) -> None:
        self.client = client
        self.registry = new_registry()
        self._subscribed: set[str] = set()
        self._cursor = 0
        self._resubscribe()

    def _resubscribe(self) -> None:
        new = sorted(set(self.registry.subscriptions()) - self._subscribed)
        if new:
            self._subscribed.update(new)
            self.client.subscribe(*new)

    def pump_until(self, done: Callable[[Registry], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not done(self.registry):
            message = self.client.next(self._cursor, max(0.0, deadline - time.monotonic()))
            if message is None:
                raise TimeoutError("the registry never got there")
            self._cursor += 1
            self.registry.handle(message.topic, message.payload)
            self._resubscribe()

    def entity(self, name: str) -> Entity:
        return by_name(self.registry)[name]


def state_is(name: str, **expected: Any) -> Callable[[Registry], bool]:
    def done(registry: Registry) -> bool:
        entity = by_name(registry).get(name)
        return entity is not None and entity.state | expected == entity.state

    return done


@pytest.fixture
def simulator(broker: Broker) -> Iterator[HomeSimulator]:
    simulator = HomeSimulator(broker.host, broker.port, client_id="demo-home-test")
    simulator.start(timeout=5.0)
    yield simulator
    simulator.stop()


def test_the_simulator_answers_commands_on_the_broker(
    broker: Broker, simulator: HomeSimulator, mqtt_client: Callable[[str], MqttClient]
) -> None:
    watcher = RegistryWatcher(mqtt_client("agent"))
    watcher.pump_until(lambda r: len(r.entities()) == len(DEVICES))
    watcher.pump_until(state_is("Kitchen Ceiling Light", on=True, brightness=75))
    observer = mqtt_client("observer")
    observer.subscribe("home/#", "zigbee2mqtt/#", "stat/#", "tele/#", "homie/#")
    sender = mqtt_client("sender")

    steps: list[tuple[str, Action, float | None, str, dict[str, Any]]] = [
        ("Kitchen Ceiling Light", "turn_off", None, "home/kitchen/ceiling_light/state",
         {"on": False}),
        ("Hallway Thermostat", "set_temperature", 22.5, "home/hallway/thermostat/target",
         {"temperature": 22.5}),
        ("Garden Lights", "turn_on", None, "stat/outdoor_relay/POWER1", {"on": True}),
        ("Bedside Lamp", "set_brightness", 60, "zigbee2mqtt/Bedroom/Bedside Lamp",
         {"on": True, "brightness": 60}),
        ("Bathroom Floor Heating", "set_temperature", 24,
         "homie/5/bathroom-floor-heating/heating/target-temperature", {"temperature": 24.0}),
    ]  # fmt: skip
    for name, action, value, state_topic, expected in steps:
        start = len(observer.received())
        entity = watcher.entity(name)
        for command in watcher.registry.render(DeviceCommand(entity.id, action, value)):
            assert (command.qos, command.retain) == (1, False)
            sender.publish(command.topic, command.payload, qos=1, retain=False)
        observer.wait_for(state_topic, start=start)
        watcher.pump_until(state_is(name, **expected))

    # States are retained, commands are not: a newcomer sees the new state and no command.
    newcomer = mqtt_client("newcomer")
    newcomer.subscribe("home/kitchen/ceiling_light/#", "cmnd/#", "zigbee2mqtt/+/+/set")
    newcomer.wait_for("home/kitchen/ceiling_light/state", b"OFF")
    assert simulator.state("home/kitchen/ceiling_light/state") == "OFF"
    time.sleep(0.1)
    commands = [m.topic for m in newcomer.received() if m.topic.endswith(("/set", "POWER1"))]
    assert commands == []


def test_the_home_comes_back_after_a_broker_restart(
    broker: Broker, simulator: HomeSimulator, mqtt_client: Callable[[str], MqttClient]
) -> None:
    sender = mqtt_client("sender")
    sender.publish("home/garage/door/set", "OPEN")
    deadline = time.monotonic() + 5
    while simulator.state("home/garage/door") != "open" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert simulator.state("home/garage/door") == "open"
    sender.close()

    broker.restart()  # no persistence: every retained message is gone
    assert simulator.wait_ready(timeout=8.0)
    watcher = RegistryWatcher(MqttClient(broker, "agent-after-restart").connect())
    try:
        watcher.pump_until(state_is("Garage Door", open=True))
        watcher.pump_until(lambda r: len(r.entities()) == len(DEVICES))
    finally:
        watcher.client.close()


def test_stop_ends_every_thread(broker: Broker) -> None:
    before = set(threading.enumerate())
    simulator = HomeSimulator(broker.host, broker.port, client_id="demo-home-threads")
    simulator.start(timeout=5.0)
    simulator.stop()
    simulator.stop()  # twice is fine
    assert not simulator.ready
    assert set(threading.enumerate()) - before == set()


def test_start_times_out_without_a_broker(broker_factory: Callable[..., Broker]) -> None:
    absent = broker_factory(start=False)
    simulator = HomeSimulator(absent.host, absent.port, client_id="demo-home-nobroker")
    with pytest.raises(TimeoutError, match="not ready"):
        simulator.start(timeout=0.3)
    assert not simulator.ready


def test_the_command_line_runs_until_interrupted(
    broker: Broker, mqtt_client: Callable[[str], MqttClient]
) -> None:
    command = [sys.executable, "-m", "edge_agent.demo.simulator", "--host", broker.host,
               "--port", str(broker.port)]  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout or ():
            lines.put(line)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        output = ""
        while "demo home ready" not in output:
            output += lines.get(timeout=10)
        client = mqtt_client("cli-check")
        client.subscribe("stat/outdoor_relay/POWER2")
        client.publish("cmnd/outdoor_relay/POWER2", "OFF")
        client.wait_for("stat/outdoor_relay/POWER2", b"OFF")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(5)
        process.stdout.close()
