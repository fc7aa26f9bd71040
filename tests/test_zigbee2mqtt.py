"""zigbee2mqtt adapter: the documented bridge/devices list, state messages and /set bodies."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from edge_agent.devices.adapter import DeviceCommand, MqttMessage, RenderError
from edge_agent.devices.model import Action, Entity, Range
from edge_agent.devices.zigbee2mqtt import Zigbee2MqttAdapter

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DEVICES_TOPIC = "zigbee2mqtt/bridge/devices"

LIGHT = "0x000b57fffec6a5b2"
PLUG = "0x00158d00018255df"
COVER = "0x842e14fffe2a5c31"
LOCK = "0x000d6f0011a2b3c4"
TRV = "0x0c4314fffe8f7a10"
CLIMATE_SENSOR = "0x00158d0001e8a1b2"
CONTACT = "0x00158d000276c1d3"
WALL_SWITCH = "0xa4c138a1b2c3d4e5"
FAN = "0x0017880104abcd01"


def binary(name: str, on: Any, off: Any, access: int, prop: str | None = None) -> dict[str, Any]:
    return {
        "type": "binary",
        "name": name,
        "property": prop or name,
        "value_on": on,
        "value_off": off,
        "access": access,
    }


def numeric(name: str, access: int, **extra: Any) -> dict[str, Any]:
    return {"type": "numeric", "name": name, "property": name, "access": access, **extra}


def enum(name: str, values: list[str], access: int, prop: str | None = None) -> dict[str, Any]:
    return {
        "type": "enum",
        "name": name,
        "property": prop or name,
        "values": values,
        "access": access,
    }


LINKQUALITY = numeric(
    "linkquality", 1, unit="lqi", value_min=0, value_max=255, category="diagnostic"
)
BATTERY = numeric("battery", 1, unit="%", value_min=0, value_max=100, category="diagnostic")
ON_OFF = {"value_on": "ON", "value_off": "OFF", "value_toggle": "TOGGLE"}


def device(ieee: str, name: str, exposes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "ieee_address": ieee,
        "type": "Router",
        "network_address": 29159,
        "supported": True,
        "friendly_name": name,
        "definition": {
            "model": "M1",
            "vendor": "V",
            "description": "d",
            "options": [],
            "exposes": exposes,
        },
        "power_source": "Mains (single phase)",
        "interviewing": False,
        "interview_completed": True,
        **extra,
    }


def light_expose() -> dict[str, Any]:
    return {
        "type": "light",
        "features": [
            {"type": "binary", "name": "state", "property": "state", "access": 7, **ON_OFF},
            numeric("brightness", 7, value_min=0, value_max=254),
            numeric(
                "color_temp",
                7,
                unit="mired",
                value_min=250,
                value_max=454,
                presets=[{"name": "coolest", "value": 250}],
            ),
            {
                "type": "composite",
                "name": "color_xy",
                "property": "color",
                "features": [numeric("x", 7), numeric("y", 7)],
            },
        ],
    }


def bridge_devices() -> list[dict[str, Any]]:
    return [
        {
            "ieee_address": "0x00124b00120144ae",
            "type": "Coordinator",
            "network_address": 0,
            "supported": False,
            "friendly_name": "Coordinator",
            "definition": None,
        },
        device(
            LIGHT,
            "living room/ceiling light",
            [
                light_expose(),
                enum("effect", ["blink", "breathe", "okay"], 2),
                {**enum("power_on_behavior", ["off", "on", "previous"], 7), "category": "config"},
                LINKQUALITY,
            ],
        ),
        device(
            PLUG,
            "kitchen/coffee_machine",
            [
                {
                    "type": "switch",
                    "features": [
                        {
                            "type": "binary",
                            "name": "state",
                            "property": "state",
                            "access": 7,
                            **ON_OFF,
                        }
                    ],
                },
                numeric("power", 5, unit="W"),
                numeric("energy", 5, unit="kWh"),
                numeric("temperature", 5, unit="°C"),
                LINKQUALITY,
            ],
        ),
        device(
            COVER,
            "bedroom/blinds",
            [
                {
                    "type": "cover",
                    "features": [
                        enum("state", ["OPEN", "CLOSE", "STOP"], 3),
                        numeric("position", 7, unit="%", value_min=0, value_max=100),
                    ],
                },
                BATTERY,
            ],
        ),
        device(
            LOCK,
            "front door lock",
            [
                {
                    "type": "lock",
                    "features": [
                        binary("state", "LOCK", "UNLOCK", 7),
                        enum("lock_state", ["not_fully_locked", "locked", "unlocked"], 1),
                    ],
                },
                BATTERY,
            ],
        ),
        device(
            TRV,
            "bathroom/radiator",
            [
                {
                    "type": "climate",
                    "features": [
                        numeric(
                            "occupied_heating_setpoint",
                            7,
                            unit="°C",
                            value_min=5,
                            value_max=30,
                            value_step=0.5,
                        ),
                        numeric("local_temperature", 5, unit="°C"),
                        enum("system_mode", ["off", "auto", "heat"], 7),
                        enum("running_state", ["idle", "heat"], 5),
                    ],
                },
                BATTERY,
            ],
        ),
        device(
            CLIMATE_SENSOR,
            "bathroom/climate sensor",
            [
                BATTERY,
                numeric("temperature", 1, unit="°C"),
                numeric("humidity", 1, unit="%"),
                numeric("pressure", 1, unit="hPa"),
                numeric("voltage", 1, unit="mV", category="diagnostic"),
                LINKQUALITY,
            ],
            power_source="Battery",
        ),
        device(
            CONTACT,
            "hallway/front door",
            [
                BATTERY,
                binary("contact", False, True, 1),
                LINKQUALITY,
            ],
        ),
        device(
            WALL_SWITCH,
            "living room/wall switch",
            [
                {
                    "type": "switch",
                    "endpoint": "l1",
                    "features": [
                        {
                            "type": "binary",
                            "name": "state",
                            "property": "state_l1",
                            "endpoint": "l1",
                            "access": 7,
                            **ON_OFF,
                        }
                    ],
                },
                {
                    "type": "switch",
                    "endpoint": "l2",
                    "features": [
                        {
                            "type": "binary",
                            "name": "state",
                            "property": "state_l2",
                            "endpoint": "l2",
                            "access": 7,
                            **ON_OFF,
                        }
                    ],
                },
                LINKQUALITY,
            ],
        ),
        device(
            FAN,
            "bedroom fan",
            [
                {
                    "type": "fan",
                    "features": [
                        binary("state", "ON", "OFF", 7, prop="fan_state"),
                        enum(
                            "mode",
                            ["off", "low", "medium", "high", "on", "auto", "smart"],
                            7,
                            prop="fan_mode",
                        ),
                    ],
                },
            ],
        ),
        {
            "ieee_address": "0x00169a00022256da",
            "type": "EndDevice",
            "supported": False,
            "friendly_name": "my_sensor",
            "definition": None,
            "power_source": "Battery",
        },
    ]


def payload(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture
def adapter() -> Zigbee2MqttAdapter:
    return Zigbee2MqttAdapter()


@pytest.fixture
def entities(adapter: Zigbee2MqttAdapter) -> dict[str, Entity]:
    update = adapter.parse_discovery(DEVICES_TOPIC, payload(bridge_devices()))
    return {entity.id: entity for entity in update.entities}


def z2m(ieee: str, suffix: str = "") -> str:
    return f"zigbee2mqtt:{ieee}{':' + suffix if suffix else ''}"


def render(
    adapter: Zigbee2MqttAdapter, entity: Entity, action: Action, value: float | str | None = None
) -> tuple[str, dict[str, Any]]:
    messages = adapter.render(entity, DeviceCommand(entity.id, action, value))
    assert len(messages) == 1
    message = messages[0]
    assert (message.qos, message.retain) == (1, False)
    return message.topic, json.loads(message.payload)


# -- discovery ------------------------------------------------------------------------------


def test_discovery_topics(adapter: Zigbee2MqttAdapter) -> None:
    assert adapter.ecosystem == "zigbee2mqtt"
    assert adapter.discovery_topics() == [DEVICES_TOPIC]
    assert adapter.is_discovery(DEVICES_TOPIC)
    assert not adapter.is_discovery("zigbee2mqtt/bridge/groups")
    assert not adapter.is_discovery("zigbee2mqtt/living room/ceiling light")
    assert Zigbee2MqttAdapter("z2m/").discovery_topics() == ["z2m/bridge/devices"]


def test_every_device_becomes_its_entities(entities: dict[str, Entity]) -> None:
    assert set(entities) == {
        z2m(LIGHT),
        z2m(PLUG),
        z2m(PLUG, "power"),
        z2m(PLUG, "energy"),
        z2m(PLUG, "temperature"),
        z2m(COVER),
        z2m(COVER, "battery"),
        z2m(LOCK),
        z2m(LOCK, "battery"),
        z2m(TRV),
        z2m(TRV, "battery"),
        z2m(CLIMATE_SENSOR, "battery"),
        z2m(CLIMATE_SENSOR, "temperature"),
        z2m(CLIMATE_SENSOR, "humidity"),
        z2m(CLIMATE_SENSOR, "pressure"),
        z2m(CLIMATE_SENSOR, "voltage"),
        z2m(CONTACT, "battery"),
        z2m(CONTACT, "contact"),
        z2m(WALL_SWITCH, "l1"),
        z2m(WALL_SWITCH, "l2"),
        z2m(FAN),
    }
    assert all(entity.ecosystem == "zigbee2mqtt" for entity in entities.values())


def test_unsupported_device_is_skipped_with_a_log(
    adapter: Zigbee2MqttAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="edge_agent.devices.zigbee2mqtt"):
        adapter.parse_discovery(DEVICES_TOPIC, payload(bridge_devices()))
    assert any(
        "my_sensor" in r.getMessage() and "no definition" in r.getMessage() for r in caplog.records
    )


def test_light(entities: dict[str, Entity]) -> None:
    light = entities[z2m(LIGHT)]
    assert (light.name, light.area, light.domain) == ("ceiling light", "living room", "light")
    assert light.actions == [
        "turn_on",
        "turn_off",
        "toggle",
        "set_brightness",
        "set_color_temp",
        "set_color",
    ]
    assert light.ranges == {
        "set_brightness": Range(min=0, max=100, step=1, unit="%"),
        "set_color_temp": Range(min=2203, max=4000, step=1, unit="K"),
    }
    assert "warm white" in light.options["set_color"]
    assert light.native["state_topic"] == "zigbee2mqtt/living room/ceiling light"
    json.dumps(light.native)  # stored natively as plain JSON


def test_switch_and_its_sensors(entities: dict[str, Entity]) -> None:
    plug = entities[z2m(PLUG)]
    assert (plug.name, plug.aliases, plug.area) == ("coffee_machine", ["coffee machine"], "kitchen")
    assert (plug.domain, plug.actions) == ("switch", ["turn_on", "turn_off", "toggle"])
    power = entities[z2m(PLUG, "power")]
    assert (power.name, power.domain, power.device_class) == (
        "coffee_machine power",
        "sensor",
        "power",
    )
    assert power.native["unit"] == "W"
    assert power.actions == []


def test_cover_lock_climate_fan(entities: dict[str, Entity]) -> None:
    cover = entities[z2m(COVER)]
    assert (cover.domain, cover.actions) == ("cover", ["open", "close", "stop", "set_position"])
    assert cover.ranges["set_position"] == Range(min=0, max=100, step=1, unit="%")
    lock = entities[z2m(LOCK)]
    assert (lock.domain, lock.actions, lock.area) == ("lock", ["lock", "unlock"], None)
    assert lock.name == "front door lock"
    trv = entities[z2m(TRV)]
    assert trv.domain == "climate"
    assert trv.actions == ["set_temperature", "set_hvac_mode", "turn_off"]
    assert trv.ranges == {"set_temperature": Range(min=5, max=30, step=0.5, unit="°C")}
    assert trv.options == {"set_hvac_mode": ["off", "auto", "heat"]}
    fan = entities[z2m(FAN)]
    assert fan.actions == ["turn_on", "turn_off", "set_fan_percentage"]  # no value_toggle


def test_binary_sensor_and_endpoints(entities: dict[str, Entity]) -> None:
    contact = entities[z2m(CONTACT, "contact")]
    assert (contact.name, contact.area) == ("front door contact", "hallway")
    assert (contact.domain, contact.device_class) == ("binary_sensor", "contact")
    left, right = entities[z2m(WALL_SWITCH, "l1")], entities[z2m(WALL_SWITCH, "l2")]
    assert (left.name, right.name) == ("wall switch l1", "wall switch l2")
    assert left.domain == right.domain == "switch"


def test_a_device_that_leaves_is_removed(adapter: Zigbee2MqttAdapter) -> None:
    adapter.parse_discovery(DEVICES_TOPIC, payload(bridge_devices()))
    remaining = [d for d in bridge_devices() if d["ieee_address"] != LOCK]
    update = adapter.parse_discovery(DEVICES_TOPIC, payload(remaining))
    assert update.removed == [z2m(LOCK), z2m(LOCK, "battery")]
    assert z2m(LIGHT) in {entity.id for entity in update.entities}
    everything_else = adapter.parse_discovery(DEVICES_TOPIC, payload([])).removed
    assert len(everything_else) == 19
    assert z2m(COVER) in everything_else
    assert z2m(LOCK) not in everything_else


# -- state ----------------------------------------------------------------------------------


def state(adapter: Zigbee2MqttAdapter, entity: Entity, value: Any) -> dict[str, Any] | None:
    topic = entity.native["state_topic"]
    raw = value if isinstance(value, bytes) else payload(value)
    return adapter.parse_state(entity, topic, raw, NOW)


def test_state_topics(adapter: Zigbee2MqttAdapter, entities: dict[str, Entity]) -> None:
    assert adapter.state_topics(entities[z2m(LIGHT)]) == [
        "zigbee2mqtt/living room/ceiling light",
        "zigbee2mqtt/living room/ceiling light/availability",
    ]


def test_light_state(adapter: Zigbee2MqttAdapter, entities: dict[str, Entity]) -> None:
    light = entities[z2m(LIGHT)]
    message = {
        "state": "ON",
        "brightness": 127,
        "color_temp": 370,
        "linkquality": 80,
        "color": {"x": 0.46, "y": 0.41},
    }
    assert state(adapter, light, message) == {"on": True, "brightness": 50, "color_temp": 2703}
    assert state(adapter, light, {"state": "OFF"}) == {"on": False}
    assert state(adapter, light, {"linkquality": 80}) is None


def test_other_states(adapter: Zigbee2MqttAdapter, entities: dict[str, Entity]) -> None:
    plug_state = {"state": "OFF", "power": 0.0, "energy": 1.27, "temperature": 31}
    assert state(adapter, entities[z2m(PLUG)], plug_state) == {"on": False}
    assert state(adapter, entities[z2m(PLUG, "energy")], plug_state) == {"value": 1.27}
    cover = entities[z2m(COVER)]
    assert state(adapter, cover, {"position": 40, "state": "OPEN"}) == {
        "open": True,
        "position": 40,
    }
    assert state(adapter, cover, {"position": 0}) == {"position": 0, "open": False}
    lock = {"state": "UNLOCK", "lock_state": "unlocked", "battery": 90}
    assert state(adapter, entities[z2m(LOCK)], lock) == {"locked": False}
    trv = {"occupied_heating_setpoint": 21.5, "local_temperature": 19.8, "system_mode": "heat"}
    assert state(adapter, entities[z2m(TRV)], trv) == {
        "temperature": 21.5,
        "current_temperature": 19.8,
        "hvac_mode": "heat",
    }
    assert state(adapter, entities[z2m(CONTACT, "contact")], {"contact": False}) == {
        "on": True,
        "open": True,
    }
    assert state(adapter, entities[z2m(CONTACT, "contact")], {"contact": True}) == {
        "on": False,
        "open": False,
    }
    walls = {"state_l1": "ON", "state_l2": "OFF"}
    assert state(adapter, entities[z2m(WALL_SWITCH, "l1")], walls) == {"on": True}
    assert state(adapter, entities[z2m(WALL_SWITCH, "l2")], walls) == {"on": False}
    fan = {"fan_state": "ON", "fan_mode": "medium"}
    assert state(adapter, entities[z2m(FAN)], fan) == {"on": True, "percentage": 67}


def test_availability(adapter: Zigbee2MqttAdapter, entities: dict[str, Entity]) -> None:
    lock = entities[z2m(LOCK)]
    topic = "zigbee2mqtt/front door lock/availability"
    assert adapter.parse_state(lock, topic, b'{"state":"online"}', NOW) == {"available": True}
    assert adapter.parse_state(lock, topic, b'{"state":"offline"}', NOW) == {"available": False}
    assert adapter.parse_state(lock, topic, b"online", NOW) == {"available": True}
    assert adapter.parse_state(lock, topic, b"offline", NOW) == {"available": False}
    assert adapter.parse_state(lock, topic, b"maybe", NOW) is None
    assert adapter.parse_state(lock, "zigbee2mqtt/bridge/state", b"online", NOW) is None


# -- commands -------------------------------------------------------------------------------


def test_light_commands(adapter: Zigbee2MqttAdapter, entities: dict[str, Entity]) -> None:
    light = entities[z2m(LIGHT)]
    topic, body = render(adapter, light, "turn_on")
    assert (topic, body) == ("zigbee2mqtt/living room/ceiling light/set", {"state": "ON"})
    assert render(adapter, light, "turn_off")[1] == {"state": "OFF"}
    assert render(adapter, light, "toggle")[1] == {"state": "TOGGLE"}
    assert render(adapter, light, "set_brightness", 50)[1] == {"brightness": 127}
    assert render(adapter, light, "set_brightness", 100)[1] == {"brightness": 254}
    assert render(adapter, light, "set_color_temp", 2700)[1] == {"color_temp": 370}
    assert render(adapter, light, "set_color_temp", 6500)[1] == {"color_temp": 250}  # clamped
    assert render(adapter, light, "set_color", "red")[1] == {"color": {"r": 255, "g": 0, "b": 0}}
    warm = {"color": {"r": 255, "g": 180, "b": 107}}
    assert render(adapter, light, "set_color", "Warm White")[1] == warm
    with pytest.raises(RenderError):
        render(adapter, light, "set_color", "octarine")
    with pytest.raises(RenderError):
        render(adapter, light, "set_brightness", None)


def test_other_commands(adapter: Zigbee2MqttAdapter, entities: dict[str, Entity]) -> None:
    cover, lock, trv = entities[z2m(COVER)], entities[z2m(LOCK)], entities[z2m(TRV)]
    assert render(adapter, cover, "open") == ("zigbee2mqtt/bedroom/blinds/set", {"state": "OPEN"})
    assert render(adapter, cover, "close")[1] == {"state": "CLOSE"}
    assert render(adapter, cover, "stop")[1] == {"state": "STOP"}
    assert render(adapter, cover, "set_position", 30)[1] == {"position": 30}
    assert render(adapter, lock, "lock")[1] == {"state": "LOCK"}
    assert render(adapter, lock, "unlock")[1] == {"state": "UNLOCK"}
    assert render(adapter, trv, "set_temperature", 21.3)[1] == {"occupied_heating_setpoint": 21.5}
    assert render(adapter, trv, "set_temperature", 22)[1] == {"occupied_heating_setpoint": 22}
    assert render(adapter, trv, "set_temperature", 40)[1] == {"occupied_heating_setpoint": 30}
    assert render(adapter, trv, "set_hvac_mode", "heat")[1] == {"system_mode": "heat"}
    assert render(adapter, trv, "turn_off")[1] == {"system_mode": "off"}
    with pytest.raises(RenderError):
        render(adapter, trv, "set_hvac_mode", "cool")
    left = entities[z2m(WALL_SWITCH, "l2")]
    assert render(adapter, left, "turn_on") == (
        "zigbee2mqtt/living room/wall switch/set",
        {"state_l2": "ON"},
    )
    fan = entities[z2m(FAN)]
    assert render(adapter, fan, "set_fan_percentage", 20)[1] == {"fan_mode": "low"}
    assert render(adapter, fan, "set_fan_percentage", 1)[1] == {"fan_mode": "low"}
    assert render(adapter, fan, "set_fan_percentage", 67)[1] == {"fan_mode": "medium"}
    assert render(adapter, fan, "set_fan_percentage", 100)[1] == {"fan_mode": "high"}
    assert render(adapter, fan, "set_fan_percentage", 0)[1] == {"fan_mode": "off"}
    assert render(adapter, fan, "turn_on")[1] == {"fan_state": "ON"}


def test_unsupported_actions_raise(
    adapter: Zigbee2MqttAdapter, entities: dict[str, Entity]
) -> None:
    with pytest.raises(RenderError):
        render(adapter, entities[z2m(CONTACT, "contact")], "turn_on")
    with pytest.raises(RenderError):
        render(adapter, entities[z2m(LOCK)], "toggle")
    with pytest.raises(RenderError):
        render(adapter, entities[z2m(FAN)], "toggle")  # the fan has no value_toggle


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'{"devices": []}',
        b"[1, null, []]",
        payload([{"friendly_name": "x"}]),
        payload([device(PLUG, "plug", "not a list")]),  # type: ignore[arg-type]
        payload([device(PLUG, "plug", [{"type": "light"}, {"type": "switch", "features": [7]}])]),
        payload([device(PLUG, "plug", [numeric("temperature", 1) | {"access": "1"}])]),
        payload([device(PLUG, "plug", [binary("contact", None, None, 1)])]),
    ],
)
def test_bad_discovery_never_raises(
    adapter: Zigbee2MqttAdapter, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    update = adapter.parse_discovery(DEVICES_TOPIC, raw)
    assert update.removed == []
    assert [e for e in update.entities if e.domain != "binary_sensor"] == []
    assert any(DEVICES_TOPIC in record.getMessage() for record in caplog.records)


def test_a_broken_feature_drops_only_that_feature(
    adapter: Zigbee2MqttAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    expose = light_expose()
    expose["features"][1] = numeric("brightness", 7, value_min=254, value_max=0)
    update = adapter.parse_discovery(DEVICES_TOPIC, payload([device(LIGHT, "lamp", [expose])]))
    (light,) = update.entities
    assert light.actions == ["turn_on", "turn_off", "toggle", "set_color_temp", "set_color"]
    assert any("value_min" in r.getMessage() and "lamp" in r.getMessage() for r in caplog.records)


def test_bad_state_never_raises(
    adapter: Zigbee2MqttAdapter, entities: dict[str, Entity], caplog: pytest.LogCaptureFixture
) -> None:
    light = entities[z2m(LIGHT)]
    assert state(adapter, light, b"\xff\xfe") is None
    assert state(adapter, light, b"[1, 2]") is None
    assert state(adapter, light, {"state": 1, "brightness": "bright", "color_temp": 0}) is None
    assert state(adapter, entities[z2m(TRV)], {"system_mode": 3}) is None
    assert any("zigbee2mqtt/living room/ceiling light" in r.getMessage() for r in caplog.records)


def test_message_type() -> None:
    assert MqttMessage("t", "p") == MqttMessage("t", "p", 1, False)
