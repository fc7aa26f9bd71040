"""Homie 5 adapter: $description documents, property values, $state and /set payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from edge_agent.devices.adapter import DeviceCommand, DiscoveryUpdate, RenderError
from edge_agent.devices.homie import HomieAdapter
from edge_agent.devices.model import Action, Entity, Range

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ROOM = "homie:living-room"


def living_room() -> dict[str, Any]:
    """A controller with a light, a thermostat, a sensor node and a relay (Homie 5.0)."""
    return {
        "homie": "5.0",
        "version": 1767225600,
        "name": "Living room controller",
        "nodes": {
            "ceiling-light": {
                "name": "Ceiling light",
                "type": "light",
                "properties": {
                    "power": {"name": "Power", "datatype": "boolean", "settable": True},
                    "brightness": {
                        "name": "Brightness",
                        "datatype": "integer",
                        "format": "0:255",
                        "settable": True,
                    },
                    "color": {
                        "name": "Colour",
                        "datatype": "color",
                        "format": "rgb,hsv",
                        "settable": True,
                    },
                    "power-consumption": {
                        "name": "power consumption",
                        "datatype": "float",
                        "unit": "W",
                    },
                },
            },
            "thermostat": {
                "name": "Radiator thermostat",
                "properties": {
                    "target-temperature": {
                        "name": "Target temperature",
                        "datatype": "float",
                        "format": "5:30:0.5",
                        "settable": True,
                        "unit": "°C",
                    },
                    "temperature": {"name": "Temperature", "datatype": "float", "unit": "°C"},
                    "mode": {
                        "name": "Mode",
                        "datatype": "enum",
                        "format": "off,heat,auto",
                        "settable": True,
                    },
                },
            },
            "climate-sensor": {
                "name": "Climate sensor",
                "properties": {
                    "temperature": {"datatype": "float", "unit": "°C", "format": "-40:80"},
                    "humidity": {"datatype": "integer", "unit": "%", "format": "0:100"},
                    "window": {"name": "window", "datatype": "boolean", "format": "closed,open"},
                    "doorbell": {"datatype": "boolean", "retained": False},
                    "firmware": {"datatype": "string"},
                },
            },
            "fan-relay": {
                "name": "Fan",
                "properties": {"on": {"datatype": "boolean", "settable": True}},
            },
        },
    }


def kitchen_lamp(**node: Any) -> dict[str, Any]:
    """A single-node device: a dimmable white-spectrum lamp in mired."""
    properties = {
        "on": {"datatype": "boolean", "settable": True},
        "dimmer": {"datatype": "integer", "format": "0:100", "unit": "%", "settable": True},
        "color-temperature": {
            "datatype": "integer",
            "format": "153:500",
            "unit": "MK⁻¹",
            "settable": True,
        },
    }
    return {
        "homie": "5.0",
        "version": 3,
        "name": "Kitchen lamp",
        "nodes": {"light": {"name": "Light", "properties": properties} | node},
    }


def describe(adapter: HomieAdapter, device: str, value: dict[str, Any] | bytes) -> DiscoveryUpdate:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return adapter.parse_discovery(f"homie/5/{device}/$description", raw)


@pytest.fixture
def adapter() -> HomieAdapter:
    return HomieAdapter()


@pytest.fixture
def entities(adapter: HomieAdapter) -> dict[str, Entity]:
    found = describe(adapter, "living-room", living_room()).entities
    found += describe(adapter, "kitchen-lamp", kitchen_lamp()).entities
    return {entity.id: entity for entity in found}


def render(
    adapter: HomieAdapter, entity: Entity, action: Action, value: float | str | None = None
) -> tuple[str, str]:
    (message,) = adapter.render(entity, DeviceCommand(entity.id, action, value))
    assert (message.qos, message.retain) == (1, False)
    return message.topic, message.payload


def read(adapter: HomieAdapter, entity: Entity, topic: str, raw: bytes) -> dict[str, Any] | None:
    return adapter.parse_state(entity, topic, raw, NOW)


def test_discovery_topics(adapter: HomieAdapter) -> None:
    assert adapter.ecosystem == "homie"
    assert adapter.discovery_topics() == ["homie/5/+/$description", "homie/5/+/$state"]
    assert adapter.is_discovery("homie/5/living-room/$description")
    assert adapter.is_discovery("homie/5/living-room/$state")
    assert not adapter.is_discovery("homie/5/living-room/thermostat/mode")
    assert not adapter.is_discovery("homie/4/living-room/$description")
    assert not adapter.is_discovery("other/5/living-room/$description")


def test_nodes_become_entities(entities: dict[str, Entity]) -> None:
    assert set(entities) == {
        f"{ROOM}/ceiling-light",
        f"{ROOM}/ceiling-light/power-consumption",
        f"{ROOM}/thermostat",
        f"{ROOM}/climate-sensor/temperature",
        f"{ROOM}/climate-sensor/humidity",
        f"{ROOM}/climate-sensor/window",
        f"{ROOM}/fan-relay",
        "homie:kitchen-lamp/light",
    }
    assert all(entity.ecosystem == "homie" for entity in entities.values())


def test_light_node(entities: dict[str, Entity]) -> None:
    light = entities[f"{ROOM}/ceiling-light"]
    assert (light.name, light.aliases, light.domain) == ("Ceiling light", [], "light")
    assert light.actions == ["turn_on", "turn_off", "set_brightness", "set_color"]
    assert light.ranges == {"set_brightness": Range(min=0, max=100, step=1, unit="%")}
    assert light.options["set_color"][0] == "red"
    json.dumps(light.native)
    lamp = entities["homie:kitchen-lamp/light"]
    assert (lamp.name, lamp.aliases, lamp.domain) == ("Kitchen lamp", ["Light"], "light")
    assert lamp.actions == ["turn_on", "turn_off", "set_brightness", "set_color_temp"]
    assert lamp.ranges["set_color_temp"] == Range(min=2000, max=6536, step=1, unit="K")


def test_thermostat_switch_and_sensors(entities: dict[str, Entity]) -> None:
    thermostat = entities[f"{ROOM}/thermostat"]
    assert (thermostat.name, thermostat.domain) == ("Radiator thermostat", "climate")
    assert thermostat.actions == ["set_temperature", "set_hvac_mode", "turn_off"]
    assert thermostat.ranges == {"set_temperature": Range(min=5, max=30, step=0.5, unit="°C")}
    assert thermostat.options == {"set_hvac_mode": ["off", "heat", "auto"]}
    fan = entities[f"{ROOM}/fan-relay"]
    assert (fan.name, fan.domain, fan.actions) == ("Fan", "switch", ["turn_on", "turn_off"])
    temperature = entities[f"{ROOM}/climate-sensor/temperature"]
    assert (temperature.name, temperature.domain) == ("Climate sensor temperature", "sensor")
    assert (temperature.device_class, temperature.native["unit"]) == ("temperature", "°C")
    assert temperature.actions == []
    window = entities[f"{ROOM}/climate-sensor/window"]
    assert (window.name, window.domain) == ("Climate sensor window", "binary_sensor")
    consumption = entities[f"{ROOM}/ceiling-light/power-consumption"]
    assert consumption.name == "Ceiling light power consumption"


def test_state_topics(adapter: HomieAdapter, entities: dict[str, Entity]) -> None:
    assert adapter.state_topics(entities[f"{ROOM}/thermostat"]) == [
        "homie/5/living-room/thermostat/target-temperature",
        "homie/5/living-room/thermostat/temperature",
        "homie/5/living-room/thermostat/mode",
        "homie/5/living-room/$state",
    ]
    # The colour is set, never read back as state.
    assert "homie/5/living-room/ceiling-light/color" not in adapter.state_topics(
        entities[f"{ROOM}/ceiling-light"]
    )


def test_property_values(adapter: HomieAdapter, entities: dict[str, Entity]) -> None:
    light, thermostat = entities[f"{ROOM}/ceiling-light"], entities[f"{ROOM}/thermostat"]
    base = "homie/5/living-room"
    assert read(adapter, light, f"{base}/ceiling-light/power", b"true") == {"on": True}
    assert read(adapter, light, f"{base}/ceiling-light/power", b"false") == {"on": False}
    assert read(adapter, light, f"{base}/ceiling-light/brightness", b"128") == {"brightness": 50}
    assert read(adapter, thermostat, f"{base}/thermostat/target-temperature", b"21.5") == {
        "temperature": 21.5
    }
    assert read(adapter, thermostat, f"{base}/thermostat/temperature", b"19.75") == {
        "current_temperature": 19.75
    }
    assert read(adapter, thermostat, f"{base}/thermostat/mode", b"heat") == {"hvac_mode": "heat"}
    humidity = entities[f"{ROOM}/climate-sensor/humidity"]
    assert read(adapter, humidity, f"{base}/climate-sensor/humidity", b"48") == {"value": 48}
    window = entities[f"{ROOM}/climate-sensor/window"]
    assert read(adapter, window, f"{base}/climate-sensor/window", b"true") == {
        "on": True,
        "open": True,
    }
    lamp = entities["homie:kitchen-lamp/light"]
    topic = "homie/5/kitchen-lamp/light/color-temperature"
    assert read(adapter, lamp, topic, b"370") == {"color_temp": 2703}
    assert read(adapter, light, f"{base}/thermostat/mode", b"heat") is None


def test_availability(adapter: HomieAdapter, entities: dict[str, Entity]) -> None:
    light = entities[f"{ROOM}/ceiling-light"]
    topic = "homie/5/living-room/$state"
    assert read(adapter, light, topic, b"ready") == {"available": True}
    for state in (b"init", b"disconnected", b"sleeping", b"lost"):
        assert read(adapter, light, topic, state) == {"available": False}
    update = adapter.parse_discovery(topic, b"ready")
    assert update.availability[f"{ROOM}/thermostat"] is True
    assert len(update.availability) == 7
    assert adapter.parse_discovery(topic, b"lost").availability[f"{ROOM}/fan-relay"] is False


def test_state_before_description_sets_availability(adapter: HomieAdapter) -> None:
    assert adapter.parse_discovery("homie/5/kitchen-lamp/$state", b"ready").availability == {}
    (lamp,) = describe(adapter, "kitchen-lamp", kitchen_lamp()).entities
    assert lamp.available is True


def test_a_lost_root_takes_its_children(adapter: HomieAdapter) -> None:
    child = kitchen_lamp() | {"root": "bridge"}
    adapter.parse_discovery("homie/5/kitchen-lamp/$state", b"ready")
    (lamp,) = describe(adapter, "kitchen-lamp", child).entities
    assert "homie/5/bridge/$state" in adapter.state_topics(lamp)
    update = adapter.parse_discovery("homie/5/bridge/$state", b"lost")
    assert update.availability == {"homie:kitchen-lamp/light": False}
    assert read(adapter, lamp, "homie/5/bridge/$state", b"lost") == {"available": False}
    assert read(adapter, lamp, "homie/5/bridge/$state", b"ready") == {"available": True}


def test_light_commands(adapter: HomieAdapter, entities: dict[str, Entity]) -> None:
    light = entities[f"{ROOM}/ceiling-light"]
    assert render(adapter, light, "turn_on") == (
        "homie/5/living-room/ceiling-light/power/set",
        "true",
    )
    assert render(adapter, light, "turn_off")[1] == "false"
    assert render(adapter, light, "set_brightness", 50) == (
        "homie/5/living-room/ceiling-light/brightness/set",
        "128",
    )
    assert render(adapter, light, "set_brightness", 100)[1] == "255"
    assert render(adapter, light, "set_brightness", 0)[1] == "0"
    assert render(adapter, light, "set_color", "red")[1] == "rgb,255,0,0"
    lamp = entities["homie:kitchen-lamp/light"]
    assert render(adapter, lamp, "set_color_temp", 2700) == (
        "homie/5/kitchen-lamp/light/color-temperature/set",
        "370",
    )
    assert render(adapter, lamp, "set_color_temp", 1000)[1] == "500"
    assert render(adapter, lamp, "set_brightness", 33.3)[1] == "33"
    with pytest.raises(RenderError):
        render(adapter, lamp, "set_color", "red")
    with pytest.raises(RenderError):
        render(adapter, lamp, "toggle")


def test_colour_formats(adapter: HomieAdapter) -> None:
    for fmt, expected in (("hsv", "hsv,300,100,50"), ("xyz,rgb", "xyz,0.3209,0.1542")):
        colour = {"color": {"datatype": "color", "format": fmt, "settable": True}}
        (lamp,) = describe(adapter, "lamp", kitchen_lamp(properties=colour)).entities
        assert render(adapter, lamp, "set_color", "purple")[1] == expected


def test_thermostat_commands(adapter: HomieAdapter, entities: dict[str, Entity]) -> None:
    thermostat = entities[f"{ROOM}/thermostat"]
    setpoint = "homie/5/living-room/thermostat/target-temperature/set"
    assert render(adapter, thermostat, "set_temperature", 21.3) == (setpoint, "21.5")
    assert render(adapter, thermostat, "set_temperature", 22) == (setpoint, "22")
    assert render(adapter, thermostat, "set_temperature", 35) == (setpoint, "30")
    assert render(adapter, thermostat, "set_temperature", 2) == (setpoint, "5")
    mode = "homie/5/living-room/thermostat/mode/set"
    assert render(adapter, thermostat, "set_hvac_mode", "heat") == (mode, "heat")
    assert render(adapter, thermostat, "turn_off") == (mode, "off")
    with pytest.raises(RenderError):
        render(adapter, thermostat, "set_hvac_mode", "cool")
    with pytest.raises(RenderError):
        render(adapter, thermostat, "set_temperature", "warm")
    fan = entities[f"{ROOM}/fan-relay"]
    assert render(adapter, fan, "turn_on") == ("homie/5/living-room/fan-relay/on/set", "true")
    with pytest.raises(RenderError):
        render(adapter, entities[f"{ROOM}/climate-sensor/temperature"], "turn_on")


def test_step_grid_is_kept_inside_the_range(adapter: HomieAdapter) -> None:
    setpoint = {"setpoint": {"datatype": "integer", "format": "10:25:2", "settable": True}}
    (heater,) = describe(adapter, "heater", kitchen_lamp(properties=setpoint)).entities
    assert heater.domain == "climate"
    assert heater.ranges["set_temperature"] == Range(min=10, max=25, step=2, unit="°C")
    assert render(adapter, heater, "set_temperature", 25)[1] == "24"  # 26 is past the max
    assert render(adapter, heater, "set_temperature", 15)[1] == "16"


def test_removal(adapter: HomieAdapter) -> None:
    describe(adapter, "living-room", living_room())
    fewer = living_room()
    del fewer["nodes"]["fan-relay"]
    assert describe(adapter, "living-room", fewer).removed == [f"{ROOM}/fan-relay"]
    update = describe(adapter, "living-room", b"")
    assert len(update.removed) == 6
    assert update.entities == []
    describe(adapter, "kitchen-lamp", kitchen_lamp())
    gone = adapter.parse_discovery("homie/5/kitchen-lamp/$state", b"")
    assert gone.removed == ["homie:kitchen-lamp/light"]


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        json.dumps({"homie": "4.0.0", "nodes": {}}).encode(),
        json.dumps({"homie": "5.0", "nodes": [{"id": "light"}]}).encode(),
    ],
)
def test_bad_descriptions_never_raise(
    adapter: HomieAdapter, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    describe(adapter, "kitchen-lamp", kitchen_lamp())
    update = describe(adapter, "kitchen-lamp", raw)
    assert (update.entities, update.removed) == ([], [])
    assert any("homie/5/kitchen-lamp/$description" in r.getMessage() for r in caplog.records)


def test_broken_properties_are_skipped(
    adapter: HomieAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    properties = {
        "on": {"datatype": "switch", "settable": True},
        "dimmer": {"datatype": "integer", "format": "100:0", "settable": True},
        "level": {"datatype": "float", "format": "a:b", "settable": True},
        "mode": {"datatype": "enum", "settable": True},
        "color": {"datatype": "color", "format": "cmyk", "settable": True},
        "power": "nope",
        "temperature": {"datatype": "float", "unit": "°C"},
    }
    document = kitchen_lamp(properties=properties)
    document["nodes"]["broken"] = ["not", "a", "node"]
    (sensor,) = describe(adapter, "kitchen-lamp", document).entities
    assert sensor.id == "homie:kitchen-lamp/light/temperature"
    messages = " ".join(r.getMessage() for r in caplog.records)
    for reason in (
        "unknown datatype 'switch'",
        "min > max",
        "not a number",
        "enum without",
        "none of rgb",
        "not an object",
        "node broken",
    ):
        assert reason in messages


def test_bad_values_never_raise(
    adapter: HomieAdapter, entities: dict[str, Entity], caplog: pytest.LogCaptureFixture
) -> None:
    light, thermostat = entities[f"{ROOM}/ceiling-light"], entities[f"{ROOM}/thermostat"]
    assert read(adapter, light, "homie/5/living-room/ceiling-light/power", b"TRUE") is None
    assert read(adapter, light, "homie/5/living-room/ceiling-light/brightness", b"1.5") is None
    assert read(adapter, thermostat, "homie/5/living-room/thermostat/temperature", b"NaN") is None
    assert read(adapter, thermostat, "homie/5/living-room/thermostat/mode", b"cool") is None
    assert read(adapter, light, "homie/5/living-room/$state", b"exploded") is None
    assert read(adapter, light, "homie/5/living-room/ceiling-light/power", b"\xff") is None
    assert adapter.parse_discovery("homie/5/living-room/$state", b"exploded").availability == {}
    assert any("ceiling-light/brightness" in r.getMessage() for r in caplog.records)
