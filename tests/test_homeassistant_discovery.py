"""Home Assistant MQTT discovery: configs written after Home Assistant's documented examples."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from edge_agent.devices.adapter import (
    Adapter,
    DeviceCommand,
    DiscoveryUpdate,
    MqttMessage,
    RenderError,
)
from edge_agent.devices.homeassistant import ABBREVIATIONS, HomeAssistantAdapter, state_topics
from edge_agent.devices.model import Action, Entity, Range

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def discover(
    topic: str, config: dict[str, Any] | str, adapter: HomeAssistantAdapter | None = None
) -> DiscoveryUpdate:
    payload = config if isinstance(config, str) else json.dumps(config)
    return (adapter or HomeAssistantAdapter()).parse_discovery(topic, payload.encode())


def entity(topic: str, config: dict[str, Any]) -> Entity:
    update = discover(topic, config)
    assert len(update.entities) == 1, update
    return update.entities[0]


def state(item: Entity, topic: str, payload: str | bytes) -> dict[str, Any] | None:
    raw = payload if isinstance(payload, bytes) else payload.encode()
    return HomeAssistantAdapter().parse_state(item, topic, raw, NOW)


def render(item: Entity, action: Action, value: float | str | None = None) -> list[tuple[str, str]]:
    messages = HomeAssistantAdapter().render(item, DeviceCommand(item.id, action, value))
    assert all(m.qos == 1 and not m.retain for m in messages)
    return [(m.topic, m.payload) for m in messages]


# --- topics ---------------------------------------------------------------------------------


def test_discovery_topics_and_matching() -> None:
    adapter: Adapter = HomeAssistantAdapter(prefix="ha")  # mypy checks the protocol here
    assert adapter.ecosystem == "homeassistant"
    assert adapter.discovery_topics() == ["ha/+/+/config", "ha/+/+/+/config"]
    assert adapter.is_discovery("ha/light/kitchen/config")
    assert adapter.is_discovery("ha/switch/node-1/relay_2/config")
    assert adapter.is_discovery("ha/device/0AFFD2/config")
    assert not adapter.is_discovery("homeassistant/light/kitchen/config")
    assert not adapter.is_discovery("ha/light/kitchen/state")
    assert not adapter.is_discovery("ha/light/config")
    assert not adapter.is_discovery("ha/light/a/b/c/config")
    assert not adapter.is_discovery("ha/light/bad id/config")


# --- entities from the discovery docs -------------------------------------------------------


def test_motion_sensor_without_own_name_takes_the_device_name() -> None:
    motion = entity(
        "homeassistant/binary_sensor/garden/config",
        {
            "name": None,
            "device_class": "motion",
            "state_topic": "homeassistant/binary_sensor/garden/state",
            "unique_id": "motion01ad",
            "device": {"identifiers": ["01ad"], "name": "Garden"},
        },
    )
    assert motion.id == "homeassistant:binary_sensor.motion01ad"
    assert (motion.name, motion.aliases, motion.domain) == ("Garden", [], "binary_sensor")
    assert motion.device_class == "motion"
    assert motion.actions == []
    assert state(motion, "homeassistant/binary_sensor/garden/state", "ON") == {"on": True}
    assert state(motion, "homeassistant/binary_sensor/garden/state", "OFF") == {"on": False}
    assert state(motion, "homeassistant/binary_sensor/garden/state", "maybe") is None


def test_sensors_sharing_a_json_state_topic() -> None:
    device = {"identifiers": ["bedroom01ae"], "name": "Bedroom", "manufacturer": "Example"}
    common = {"state_topic": "homeassistant/sensor/sensorBedroom/state", "device": device}
    temperature = entity(
        "homeassistant/sensor/sensorBedroomT/config",
        {
            **common,
            "device_class": "temperature",
            "unit_of_measurement": "°C",
            "value_template": "{{ value_json.temperature}}",
            "unique_id": "temp01ae",
        },
    )
    humidity = entity(
        "homeassistant/sensor/sensorBedroomH/config",
        {
            **common,
            "device_class": "humidity",
            "unit_of_measurement": "%",
            "value_template": "{{ value_json['humidity'] }}",
            "unique_id": "hum01ae",
        },
    )
    # No name key: Home Assistant names the entity after its device class.
    assert (temperature.name, temperature.aliases) == ("Bedroom Temperature", ["Temperature"])
    assert humidity.name == "Bedroom Humidity"
    payload = '{ "temperature": 23.20, "humidity": 43.70 }'
    topic = "homeassistant/sensor/sensorBedroom/state"
    assert state(temperature, topic, payload) == {"value": 23.2, "unit": "°C"}
    assert state(humidity, topic, payload) == {"value": 43.7, "unit": "%"}
    assert state(humidity, topic, '{"temperature": 20}') is None  # says nothing of humidity
    assert state(humidity, "some/other/topic", payload) is None
    assert HomeAssistantAdapter().state_topics(humidity) == [topic]


def test_sensor_raw_values() -> None:
    sensor = entity(
        "homeassistant/sensor/power/config",
        {"name": "Power", "state_topic": "meter/power", "unit_of_measurement": "W"},
    )
    assert sensor.id == "homeassistant:sensor.power"  # no unique_id: the object id
    assert state(sensor, "meter/power", "1200") == {"value": 1200, "unit": "W"}
    assert state(sensor, "meter/power", "-3.5") == {"value": -3.5, "unit": "W"}
    assert state(sensor, "meter/power", "unavailable") == {"value": "unavailable", "unit": "W"}
    assert state(sensor, "meter/power", b"\xff\xfe") is None
    assert state(sensor, "meter/power", "") is None


def test_switch_with_a_device_is_named_device_then_entity() -> None:
    switch = entity(
        "homeassistant/switch/irrigation/config",
        {
            "name": "Irrigation",
            "command_topic": "homeassistant/switch/irrigation/set",
            "state_topic": "homeassistant/switch/irrigation/state",
            "unique_id": "irr01ad",
            "device": {"identifiers": ["garden01ad"], "name": "Garden", "suggested_area": "Yard"},
        },
    )
    assert switch.id == "homeassistant:switch.irr01ad"
    assert (switch.name, switch.aliases, switch.area) == (
        "Garden Irrigation",
        ["Irrigation"],
        "Yard",
    )
    assert switch.actions == ["turn_on", "turn_off", "toggle"]
    assert render(switch, "turn_on") == [("homeassistant/switch/irrigation/set", "ON")]
    assert render(switch, "turn_off") == [("homeassistant/switch/irrigation/set", "OFF")]


def test_entity_name_that_starts_with_the_device_name_is_kept() -> None:
    switch = entity(
        "homeassistant/switch/lamp/config",
        {"name": "Desk lamp plug", "command_topic": "a/set", "device": {"name": "Desk lamp"}},
    )
    assert (switch.name, switch.aliases) == ("Desk lamp plug", [])


def test_abbreviations_and_base_topic() -> None:
    switch = entity(
        "homeassistant/switch/irrigation/config",
        {
            "~": "homeassistant/switch/irrigation",
            "name": "garden",
            "cmd_t": "~/set",
            "stat_t": "~/state",
        },
    )
    assert switch.native["command_topic"] == "homeassistant/switch/irrigation/set"
    assert switch.native["state_topic"] == "homeassistant/switch/irrigation/state"
    assert "~" not in switch.native
    assert render(switch, "turn_on") == [("homeassistant/switch/irrigation/set", "ON")]
    assert state(switch, "homeassistant/switch/irrigation/state", "OFF") == {"on": False}


def test_base_topic_at_the_end_and_in_availability_entries() -> None:
    light = entity(
        "homeassistant/light/node7/bulb/config",
        {
            "~": "bulb7",
            "cmd_t": "cmnd/~",
            "stat_t": "stat/~",
            "avty": [{"t": "~/LWT", "pl_avail": "Online", "pl_not_avail": "Offline"}],
            "dev": {"ids": ["b7"], "name": "Hall bulb", "sa": "Hall"},
            "uniq_id": "bulb7_light",
        },
    )
    assert light.native["command_topic"] == "cmnd/bulb7"
    assert light.native["state_topic"] == "stat/bulb7"
    assert light.area == "Hall"
    assert HomeAssistantAdapter().state_topics(light) == ["stat/bulb7", "bulb7/LWT"]
    assert state_topics(light) == ["stat/bulb7", "bulb7/LWT"]
    assert state(light, "bulb7/LWT", "Online") == {"available": True}
    assert state(light, "bulb7/LWT", "Offline") == {"available": False}
    assert state(light, "bulb7/LWT", "online") is None


def test_availability_topic_with_custom_payloads() -> None:
    switch = entity(
        "homeassistant/switch/heater/config",
        {
            "cmd_t": "heater/set",
            "stat_t": "heater/state",
            "avty_t": "heater/status",
            "pl_avail": "1",
            "pl_not_avail": "0",
        },
    )
    assert switch.available is None  # unknown until the first availability message
    assert switch.name == "heater"
    assert state(switch, "heater/status", "1") == {"available": True}
    assert state(switch, "heater/status", "0") == {"available": False}


def test_availability_defaults_and_template() -> None:
    button = entity(
        "homeassistant/button/restart/config",
        {
            "unique_id": "living_room_btn",
            "name": "Restart Living Room",
            "command_topic": "home/living_room/restart",
            "payload_press": "restart",
            "availability": [
                {"topic": "home/living_room/available"},
                {"topic": "home/bridge", "value_template": "{{ value_json.state }}"},
            ],
            "entity_category": "config",
            "device_class": "restart",
        },
    )
    assert button.actions == ["activate"]
    assert render(button, "activate") == [("home/living_room/restart", "restart")]
    assert state(button, "home/living_room/available", "online") == {"available": True}
    assert state(button, "home/bridge", '{"state": "offline"}') == {"available": False}
    assert state(button, "home/bridge", "not json") is None


# --- device-based discovery -----------------------------------------------------------------

DEVICE_CONFIG: dict[str, Any] = {
    "dev": {"ids": "ea334450945afc", "name": "Kitchen", "mf": "Bla electronics", "sa": "Kitchen"},
    "o": {"name": "bla2mqtt", "sw": "2.1", "url": "https://bla2mqtt.example.com/support"},
    "cmps": {
        "some_unique_component_id1": {
            "p": "sensor",
            "device_class": "temperature",
            "unit_of_measurement": "°C",
            "value_template": "{{ value_json.temperature}}",
            "unique_id": "temp01ae_t",
        },
        "some_unique_id2": {
            "p": "sensor",
            "device_class": "humidity",
            "unit_of_measurement": "%",
            "value_template": "{{ value_json.humidity}}",
            "unique_id": "temp01ae_h",
        },
        "light1": {"p": "light", "cmd_t": "kitchen/light/set", "name": "Ceiling"},
    },
    "state_topic": "sensorBedroom/state",
    "avty_t": "kitchen/status",
    "qos": 2,
}


def test_device_config_shares_its_options_with_every_component() -> None:
    update = discover("homeassistant/device/0AFFD2/config", DEVICE_CONFIG)
    by_id = {e.id: e for e in update.entities}
    assert sorted(by_id) == [
        "homeassistant:light.0AFFD2_light1",
        "homeassistant:sensor.temp01ae_h",
        "homeassistant:sensor.temp01ae_t",
    ]
    temperature = by_id["homeassistant:sensor.temp01ae_t"]
    assert (temperature.name, temperature.area) == ("Kitchen Temperature", "Kitchen")
    assert state(temperature, "sensorBedroom/state", '{"temperature": 21.5}') == {
        "value": 21.5,
        "unit": "°C",
    }
    assert state(temperature, "kitchen/status", "offline") == {"available": False}
    light = by_id["homeassistant:light.0AFFD2_light1"]
    assert light.name == "Kitchen Ceiling"
    assert light.native["state_topic"] == "sensorBedroom/state"  # inherited, as in HA
    assert render(light, "turn_on") == [("kitchen/light/set", "ON")]


def test_device_base_topic_is_per_component() -> None:
    config = {
        "dev": {"name": "Relay board"},
        "~": "board",
        "avty": [{"t": "~/status"}],
        "cmps": {
            "r1": {"p": "switch", "~": "board/r1", "cmd_t": "~/set"},
            "r2": {"p": "switch", "cmd_t": "~/r2/set"},
        },
    }
    first, second = discover("homeassistant/device/board/config", config).entities
    assert first.native["command_topic"] == "board/r1/set"
    assert first.native["availability"][0]["topic"] == "board/r1/status"
    assert second.native["command_topic"] == "board/r2/set"  # the device's own ~
    assert second.native["availability"][0]["topic"] == "board/status"


def test_device_component_override_and_removal() -> None:
    adapter = HomeAssistantAdapter()
    topic = "homeassistant/device/0AFFD2/config"
    discover(topic, DEVICE_CONFIG, adapter)
    config = json.loads(json.dumps(DEVICE_CONFIG))
    config["cmps"]["some_unique_id2"] = {"p": "sensor"}  # the documented way to remove one
    config["cmps"]["light1"]["stat_t"] = "kitchen/light/state"
    update = discover(topic, config, adapter)
    assert update.removed == ["homeassistant:sensor.temp01ae_h"]
    light = next(e for e in update.entities if e.domain == "light")
    assert light.native["state_topic"] == "kitchen/light/state"
    assert discover(topic, "", adapter).removed == [
        "homeassistant:sensor.temp01ae_t",
        "homeassistant:light.0AFFD2_light1",
    ]


def test_device_config_skips_only_its_broken_component(caplog: pytest.LogCaptureFixture) -> None:
    config = json.loads(json.dumps(DEVICE_CONFIG))
    config["cmps"]["light1"].pop("cmd_t")
    del config["state_topic"]  # the sensors lose their (shared) state topic too
    config["cmps"]["some_unique_id2"]["stat_t"] = "hum/state"
    config["cmps"]["alarm"] = {"p": "alarm_control_panel", "cmd_t": "x"}
    config["cmps"]["nameless"] = {"cmd_t": "x"}
    with caplog.at_level(logging.WARNING):
        update = discover("homeassistant/device/0AFFD2/config", config)
    assert [e.id for e in update.entities] == ["homeassistant:sensor.temp01ae_h"]
    assert "command_topic is missing" in caplog.text
    assert "state_topic is missing" in caplog.text
    assert "'alarm_control_panel' is not supported" in caplog.text
    assert "nameless: it has no platform" in caplog.text


def test_a_broken_device_component_keeps_its_entity() -> None:
    adapter = HomeAssistantAdapter()
    topic = "homeassistant/device/0AFFD2/config"
    discover(topic, DEVICE_CONFIG, adapter)
    config = json.loads(json.dumps(DEVICE_CONFIG))
    config["cmps"]["light1"]["bri_scl"] = "very"
    update = discover(topic, config, adapter)
    assert len(update.entities) == 2
    assert update.removed == []


# --- removal --------------------------------------------------------------------------------


def test_empty_payload_removes_the_entity() -> None:
    adapter = HomeAssistantAdapter()
    topic = "homeassistant/switch/irrigation/config"
    discover(topic, {"cmd_t": "a/set", "uniq_id": "irr01ad"}, adapter)
    assert discover(topic, "", adapter).removed == ["homeassistant:switch.irr01ad"]
    # Retained before we started: the entity can only have the topic's own id.
    assert discover(topic, "", adapter).removed == ["homeassistant:switch.irrigation"]
    node_topic = "homeassistant/switch/node1/irrigation/config"
    assert discover(node_topic, "").removed == ["homeassistant:switch.node1_irrigation"]


def test_a_new_unique_id_on_the_same_topic_replaces_the_old_entity() -> None:
    adapter = HomeAssistantAdapter()
    topic = "homeassistant/switch/irrigation/config"
    discover(topic, {"cmd_t": "a/set", "uniq_id": "old"}, adapter)
    update = discover(topic, {"cmd_t": "a/set", "uniq_id": "new"}, adapter)
    assert [e.id for e in update.entities] == ["homeassistant:switch.new"]
    assert update.removed == ["homeassistant:switch.old"]


# --- lights ---------------------------------------------------------------------------------

OFFICE_LIGHT: dict[str, Any] = {
    "name": "Office Light RGB",
    "state_topic": "office/rgb1/light/status",
    "command_topic": "office/rgb1/light/switch",
    "brightness_state_topic": "office/rgb1/brightness/status",
    "brightness_command_topic": "office/rgb1/brightness/set",
    "rgb_state_topic": "office/rgb1/rgb/status",
    "rgb_command_topic": "office/rgb1/rgb/set",
    "state_value_template": "{{ value_json.state }}",
    "brightness_value_template": "{{ value_json.brightness }}",
    "rgb_value_template": "{{ value_json.rgb | join(',') }}",
    "qos": 0,
    "payload_on": "ON",
    "payload_off": "OFF",
    "optimistic": False,
}


def test_default_schema_light() -> None:
    light = entity("homeassistant/light/office/config", OFFICE_LIGHT)
    assert light.actions == ["turn_on", "turn_off", "toggle", "set_brightness", "set_color"]
    assert light.ranges == {"set_brightness": Range(min=0, max=100, step=1, unit="%")}
    assert "red" in light.options["set_color"]
    assert state(light, "office/rgb1/light/status", '{"state": "ON"}') == {"on": True}
    assert state(light, "office/rgb1/brightness/status", '{"brightness": 128}') == {
        "brightness": 50
    }
    assert state(light, "office/rgb1/brightness/status", '{"brightness": 0}') is None
    # on_command_type "last" (the default): the attribute first, then ON.
    assert render(light, "set_brightness", 50) == [
        ("office/rgb1/brightness/set", "128"),
        ("office/rgb1/light/switch", "ON"),
    ]
    assert render(light, "set_brightness", 0.1) == [
        ("office/rgb1/brightness/set", "1"),
        ("office/rgb1/light/switch", "ON"),
    ]
    assert render(light, "set_brightness", 0) == [("office/rgb1/light/switch", "OFF")]
    assert render(light, "set_color", "Orange") == [
        ("office/rgb1/rgb/set", "255,165,0"),
        ("office/rgb1/light/switch", "ON"),
    ]


def test_light_toggle_needs_a_known_state() -> None:
    light = entity("homeassistant/light/office/config", OFFICE_LIGHT)
    with pytest.raises(RenderError, match="unknown"):
        render(light, "toggle")
    light.state["on"] = True
    assert render(light, "toggle") == [("office/rgb1/light/switch", "OFF")]
    light.state["on"] = False
    assert render(light, "toggle") == [("office/rgb1/light/switch", "ON")]


def test_light_brightness_scale_color_temp_and_templates() -> None:
    light = entity(
        "homeassistant/light/desk/config",
        {
            "cmd_t": "desk/set",
            "stat_t": "desk/state",
            "pl_on": "1",
            "pl_off": "0",
            "bri_cmd_t": "desk/bri/set",
            "bri_cmd_tpl": "{{ value | int }}",
            "bri_stat_t": "desk/bri",
            "bri_scl": 100,
            "clr_temp_cmd_t": "desk/ct/set",
            "clr_temp_cmd_tpl": '{"ct": {{ value }}}',
            "min_mirs": 200,
            "max_mirs": 400,
            "on_cmd_type": "first",
        },
    )
    assert light.ranges["set_color_temp"] == Range(min=2500, max=5000, unit="K")
    assert state(light, "desk/state", "1") == {"on": True}
    assert state(light, "desk/bri", "40") == {"brightness": 40}
    assert render(light, "set_brightness", 40) == [("desk/set", "1"), ("desk/bri/set", "40")]
    assert render(light, "set_color_temp", 4000) == [
        ("desk/set", "1"),
        ("desk/ct/set", '{"ct": 250}'),
    ]
    assert render(light, "set_color_temp", 9000) == [
        ("desk/set", "1"),
        ("desk/ct/set", '{"ct": 200}'),
    ]
    with pytest.raises(RenderError, match="cannot set_color"):
        render(light, "set_color", "red")


def test_light_that_turns_on_by_brightness() -> None:
    light = entity(
        "homeassistant/light/strip/config",
        {"cmd_t": "strip/set", "bri_cmd_t": "strip/bri", "on_command_type": "brightness"},
    )
    assert render(light, "turn_on") == [("strip/bri", "255")]
    assert render(light, "set_brightness", 20) == [("strip/bri", "51")]
    assert render(light, "turn_off") == [("strip/set", "OFF")]


def test_light_colour_in_kelvin_hs_and_xy() -> None:
    light = entity(
        "homeassistant/light/lamp/config",
        {
            "cmd_t": "l/set",
            "clr_temp_cmd_t": "l/ct",
            "clr_temp_k": True,
            "min_k": 2700,
            "max_k": 6500,
            "hs_cmd_t": "l/hs",
        },
    )
    assert light.ranges["set_color_temp"] == Range(min=2700, max=6500, unit="K")
    assert render(light, "set_color_temp", 3000) == [("l/ct", "3000"), ("l/set", "ON")]
    assert render(light, "set_color", "blue") == [("l/hs", "240.0,100.0"), ("l/set", "ON")]
    xy = entity("homeassistant/light/xy/config", {"cmd_t": "x/set", "xy_cmd_t": "x/xy"})
    assert "set_color_temp" not in xy.ranges
    assert render(xy, "set_color", "red") == [("x/xy", "0.6401,0.33"), ("x/set", "ON")]
    plain = entity("homeassistant/light/ct/config", {"cmd_t": "c/set", "clr_temp_cmd_t": "c/ct"})
    assert plain.ranges["set_color_temp"] == Range(min=2000, max=6535, unit="K")
    assert render(plain, "set_color_temp", 2000) == [("c/ct", "500"), ("c/set", "ON")]
    # Home Assistant floors mireds: 1e6 / 2900 K = 344.8
    assert render(plain, "set_color_temp", 2900) == [("c/ct", "344"), ("c/set", "ON")]


def test_rgb_light_without_brightness_topic_dims_the_colour() -> None:
    light = entity("homeassistant/light/rgb/config", {"cmd_t": "r/set", "rgb_cmd_t": "r/rgb"})
    light.state["brightness"] = 50
    assert render(light, "set_color", "#ff8000") == [("r/rgb", "127,64,0"), ("r/set", "ON")]
    with pytest.raises(RenderError, match="unknown colour"):
        render(light, "set_color", "ultraviolet")


def test_json_light() -> None:
    light = entity(
        "homeassistant/light/rgb1/config",
        {
            "schema": "json",
            "name": "mqtt_json_light_1",
            "state_topic": "home/rgb1",
            "command_topic": "home/rgb1/set",
            "brightness": True,
            "brightness_scale": 4095,
            "supported_color_modes": ["rgb", "color_temp"],
        },
    )
    assert light.actions == [
        "turn_on",
        "turn_off",
        "toggle",
        "set_brightness",
        "set_color_temp",
        "set_color",
    ]
    assert state(light, "home/rgb1", '{"state": "ON", "brightness": 4095}') == {
        "on": True,
        "brightness": 100,
    }
    assert state(light, "home/rgb1", '{"state": "OFF"}') == {"on": False}
    assert state(light, "home/rgb1", '{"brightness": 2068}') == {"brightness": 51}  # 50.5 %
    assert state(light, "home/rgb1", "ON") is None
    assert state(light, "home/rgb1", "[1, 2]") is None

    def body(action: Action, value: float | str | None = None) -> Any:
        ((topic, payload),) = render(light, action, value)
        assert topic == "home/rgb1/set"
        return json.loads(payload)

    assert body("turn_on") == {"state": "ON"}
    assert body("turn_off") == {"state": "OFF"}
    assert body("set_brightness", 50) == {"state": "ON", "brightness": 2048}
    assert body("set_color_temp", 4000) == {"state": "ON", "color_temp": 250}
    assert body("set_color", "green") == {"state": "ON", "color": {"r": 0, "g": 255, "b": 0}}


def test_json_light_colour_modes() -> None:
    def colour(modes: list[str], **extra: Any) -> Any:
        config = {"schema": "json", "cmd_t": "j/set", "sup_clrm": modes, **extra}
        ((_, payload),) = render(entity("homeassistant/light/j/config", config), "set_color", "red")
        return json.loads(payload)["color"]

    assert colour(["hs"]) == {"h": 0.0, "s": 100.0}
    assert colour(["xy", "color_temp"]) == {"x": 0.6401, "y": 0.33}
    assert colour(["rgbw"]) == {"r": 255, "g": 0, "b": 0, "w": 0}
    onoff = entity("homeassistant/light/j/config", {"schema": "json", "cmd_t": "j/set"})
    assert onoff.actions == ["turn_on", "turn_off", "toggle"]
    kelvin = entity(
        "homeassistant/light/k/config",
        {"schema": "json", "cmd_t": "k/set", "sup_clrm": ["color_temp"], "clr_temp_k": True},
    )
    assert "set_brightness" in kelvin.actions  # colour temperature implies brightness
    assert json.loads(render(kelvin, "set_color_temp", 2700)[0][1])["color_temp"] == 2700


# --- other components -----------------------------------------------------------------------


def test_fan_with_templates_and_a_speed_range() -> None:
    fan = entity(
        "homeassistant/fan/bedroom/config",
        {
            "name": "Bedroom Fan",
            "state_topic": "bedroom_fan/on/state",
            "command_topic": "bedroom_fan/on/set",
            "command_template": "{ state: '{{ value }}'}",
            "percentage_state_topic": "bedroom_fan/speed/percentage_state",
            "percentage_command_topic": "bedroom_fan/speed/percentage",
            "percentage_command_template": "{ percentage: '{{ value }}'}",
            "preset_modes": ["auto", "smart", "whoosh", "eco", "breeze"],
            "payload_on": "true",
            "payload_off": "false",
            "speed_range_min": 1,
            "speed_range_max": 3,
        },
    )
    assert fan.actions == ["turn_on", "turn_off", "toggle", "set_fan_percentage"]
    assert fan.ranges["set_fan_percentage"].step == pytest.approx(100 / 3)
    assert render(fan, "turn_on") == [("bedroom_fan/on/set", "{ state: 'true'}")]
    assert render(fan, "set_fan_percentage", 50) == [
        ("bedroom_fan/speed/percentage", "{ percentage: '2'}")
    ]
    # 40 % of speeds 1..3 is 1.2: Home Assistant rounds up, to speed 2.
    assert render(fan, "set_fan_percentage", 40) == [
        ("bedroom_fan/speed/percentage", "{ percentage: '2'}")
    ]
    assert render(fan, "set_fan_percentage", 0) == [("bedroom_fan/on/set", "{ state: 'false'}")]
    assert state(fan, "bedroom_fan/on/state", "true") == {"on": True}
    assert state(fan, "bedroom_fan/speed/percentage_state", "3") == {"percentage": 100}
    assert state(fan, "bedroom_fan/speed/percentage_state", "1") == {"percentage": 33}


def test_cover_with_position() -> None:
    cover = entity(
        "homeassistant/cover/living/config",
        {
            "name": "MQTT Cover",
            "command_topic": "living-room-cover/set",
            "state_topic": "living-room-cover/state",
            "position_topic": "living-room-cover/position",
            "set_position_topic": "living-room-cover/set_position",
            "set_position_template": '{"pos": {{ position }}, "raw": {{ value }}}',
            "availability": [{"topic": "living-room-cover/availability"}],
            "payload_stop": "STOP",
            "state_opening": "opening",
            "position_open": 255,
            "position_closed": 0,
        },
    )
    assert cover.actions == ["set_position", "open", "close", "stop"]
    assert render(cover, "open") == [("living-room-cover/set", "OPEN")]
    assert render(cover, "close") == [("living-room-cover/set", "CLOSE")]
    assert render(cover, "stop") == [("living-room-cover/set", "STOP")]
    assert render(cover, "set_position", 50) == [
        ("living-room-cover/set_position", '{"pos": 50, "raw": 128}')
    ]
    assert state(cover, "living-room-cover/state", "closed") == {"open": False}
    assert state(cover, "living-room-cover/state", "opening") == {"open": True}
    assert state(cover, "living-room-cover/position", "51") == {"position": 20}
    assert state(cover, "living-room-cover/availability", "offline") == {"available": False}


def test_cover_without_command_topic_opens_by_position() -> None:
    cover = entity(
        "homeassistant/cover/blind/config",
        {"set_pos_t": "blind/pos/set", "pos_t": "blind/pos", "pos_open": 0, "pos_clsd": 100},
    )
    assert cover.actions == ["set_position", "open", "close"]
    assert render(cover, "open") == [("blind/pos/set", "0")]
    assert render(cover, "close") == [("blind/pos/set", "100")]
    assert render(cover, "set_position", 30) == [("blind/pos/set", "70")]
    assert state(cover, "blind/pos", "25") == {"position": 75}


def test_cover_stop_payload_null_disables_stop() -> None:
    cover = entity("homeassistant/cover/gate/config", {"cmd_t": "gate/set", "pl_stop": None})
    assert cover.actions == ["open", "close"]
    with pytest.raises(RenderError, match="cannot stop"):
        render(cover, "stop")


def test_lock() -> None:
    lock = entity(
        "homeassistant/lock/frontdoor/config",
        {
            "name": "Frontdoor",
            "stat_t": "home-assistant/frontdoor/state",
            "cmd_t": "home-assistant/frontdoor/set",
            "pl_lock": "LOCK",
            "pl_unlk": "UNLOCK",
            "stat_locked": "LOCK",
            "stat_unlocked": "UNLOCK",
            "pl_open": "OPEN",
        },
    )
    assert lock.actions == ["open", "lock", "unlock"]
    assert render(lock, "lock") == [("home-assistant/frontdoor/set", "LOCK")]
    assert render(lock, "unlock") == [("home-assistant/frontdoor/set", "UNLOCK")]
    assert render(lock, "open") == [("home-assistant/frontdoor/set", "OPEN")]
    assert state(lock, "home-assistant/frontdoor/state", "LOCK") == {"locked": True}
    assert state(lock, "home-assistant/frontdoor/state", "UNLOCK") == {"locked": False}
    assert state(lock, "home-assistant/frontdoor/state", "MOTOR_JAMMED") is None


def test_lock_whose_command_template_needs_a_code_is_read_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        lock = entity(
            "homeassistant/lock/frontdoor/config",
            {
                "name": "Frontdoor",
                "state_topic": "home-assistant/frontdoor/state",
                "command_topic": "home-assistant/frontdoor/set",
                "command_template": '{ "action": "{{ value }}", "code":"{{ code }}" }',
            },
        )
    assert lock.actions == []
    assert "home-assistant/frontdoor/set" in caplog.text and "code" in caplog.text
    assert state(lock, "home-assistant/frontdoor/state", "LOCKED") == {"locked": True}
    with pytest.raises(RenderError):
        render(lock, "lock")


def test_valve_without_position() -> None:
    valve = entity(
        "homeassistant/valve/garden/config",
        {
            "command_topic": "home-assistant/valve/set",
            "state_topic": "home-assistant/valve/state",
            "payload_stop": "STOP",
            "value_template": "{{ value_json.x }}",
        },
    )
    assert valve.actions == ["open", "close", "stop"]
    assert render(valve, "open") == [("home-assistant/valve/set", "OPEN")]
    assert render(valve, "close") == [("home-assistant/valve/set", "CLOSE")]
    assert render(valve, "stop") == [("home-assistant/valve/set", "STOP")]
    assert state(valve, "home-assistant/valve/state", '{"x": "open"}') == {"open": True}
    assert state(valve, "home-assistant/valve/state", '{"x": "closed"}') == {"open": False}
    assert state(valve, "home-assistant/valve/state", "open") is None  # the template fails


def test_valve_that_reports_position() -> None:
    valve = entity(
        "homeassistant/valve/water/config",
        {
            "cmd_t": "valve/set",
            "stat_t": "valve/state",
            "pos": True,
            "pos_clsd": 0,
            "pos_open": 200,
        },
    )
    assert valve.actions == ["set_position", "open", "close"]
    assert render(valve, "set_position", 25) == [("valve/set", "50")]
    assert render(valve, "open") == [("valve/set", "200")]
    assert render(valve, "close") == [("valve/set", "0")]
    assert state(valve, "valve/state", "100") == {"position": 50, "open": True}
    assert state(valve, "valve/state", '{"state": "closing", "position": 0}') == {
        "position": 0,
        "open": False,
    }


def test_climate() -> None:
    climate = entity(
        "homeassistant/climate/study/config",
        {
            "name": "Study",
            "modes": ["off", "cool", "fan_only"],
            "power_command_topic": "study/ac/power/set",
            "mode_command_topic": "study/ac/mode/set",
            "mode_command_template": '{{ value if value=="off" else "on" }}',
            "mode_state_topic": "study/ac/mode",
            "temp_cmd_t": "study/ac/temperature/set",
            "temp_stat_t": "study/ac/temperature",
            "curr_temp_t": "study/ac/current",
            "curr_temp_tpl": "{{ value_json.temp }}",
            "precision": 0.5,
            "min_temp": 16,
            "max_temp": 30,
        },
    )
    assert climate.actions == [
        "turn_on",
        "turn_off",
        "set_temperature",
        "set_hvac_mode",
    ]
    assert climate.ranges == {
        "set_temperature": Range(min=16, max=30, step=0.5, unit="°C"),
    }
    assert climate.options == {"set_hvac_mode": ["off", "cool", "fan_only"]}
    assert render(climate, "set_temperature", 21.5) == [("study/ac/temperature/set", "21.5")]
    assert render(climate, "set_temperature", 40) == [("study/ac/temperature/set", "30.0")]
    assert render(climate, "set_hvac_mode", "cool") == [("study/ac/mode/set", "on")]
    assert render(climate, "set_hvac_mode", "off") == [("study/ac/mode/set", "off")]
    assert render(climate, "turn_off") == [("study/ac/power/set", "OFF")]
    with pytest.raises(RenderError, match="heat"):
        render(climate, "set_hvac_mode", "heat")
    assert state(climate, "study/ac/temperature", "22.5") == {"temperature": 22.5}
    assert state(climate, "study/ac/current", '{"temp": 19}') == {"current_temperature": 19.0}
    assert state(climate, "study/ac/mode", "cool") == {"hvac_mode": "cool"}
    assert state(climate, "study/ac/mode", "heat") is None


def test_climate_defaults_and_turn_off_by_mode() -> None:
    climate = entity(
        "homeassistant/climate/hall/config",
        {"mode_cmd_t": "hall/mode/set", "temp_cmd_t": "hall/temp/set", "temp_step": 0.5},
    )
    assert climate.ranges["set_temperature"] == Range(min=7, max=35, step=0.5, unit="°C")
    assert climate.options["set_hvac_mode"] == ["auto", "off", "cool", "heat", "dry", "fan_only"]
    assert climate.actions == ["turn_off", "set_temperature", "set_hvac_mode"]
    assert render(climate, "turn_off") == [("hall/mode/set", "off")]
    fahrenheit = entity(
        "homeassistant/climate/f/config", {"temp_cmd_t": "f/set", "temperature_unit": "F"}
    )
    assert fahrenheit.ranges["set_temperature"] == Range(min=45, max=95, step=1, unit="°F")
    assert fahrenheit.actions == ["set_temperature"]


def test_scene() -> None:
    scene = entity(
        "homeassistant/scene/ambient/config",
        {
            "unique_id": "living_room_ambient",
            "name": "Ambient lights",
            "command_topic": "living_room/scene/activate",
            "payload_on": "activate",
        },
    )
    assert scene.id == "homeassistant:scene.living_room_ambient"
    assert scene.actions == ["activate"]
    assert render(scene, "activate") == [("living_room/scene/activate", "activate")]
    assert HomeAssistantAdapter().state_topics(scene) == []


def test_button_default_payload() -> None:
    button = entity("homeassistant/button/bell/config", {"cmd_t": "bell/ring"})
    assert render(button, "activate") == [("bell/ring", "PRESS")]


def test_sensor_cannot_be_commanded() -> None:
    sensor = entity("homeassistant/sensor/t/config", {"stat_t": "t/state"})
    with pytest.raises(RenderError, match="cannot turn_on"):
        render(sensor, "turn_on")


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "payload", "reason"),
    [
        ("light/x/config", "{not json", "not JSON"),
        ("light/x/config", "[1, 2]", "not a JSON object"),
        ("light/x/config", b"\xff\xfe", "not JSON"),
        ("light/x/config", '{"name": "no command topic"}', "command_topic is missing"),
        ("sensor/x/config", '{"name": "t"}', "state_topic is missing"),
        ("vacuum/x/config", '{"cmd_t": "v/set"}', "not supported"),
        ("light/x/config", '{"cmd_t": "a", "schema": "template"}', "schema"),
        (
            "climate/x/config",
            '{"min_temp": 30, "max_temp": 10}',
            "min_temp 30 is above max_temp 10",
        ),
        ("light/x/config", '{"cmd_t": "a", "min_mirs": 500, "max_mirs": 153}', "above"),
        ("light/x/config", '{"cmd_t": "a", "min_k": 0, "max_k": 10}', "positive"),
        ("light/x/config", '{"cmd_t": "a", "bri_scl": "bright"}', "not a number"),
        ("light/x/config", '{"cmd_t": "a", "bri_scl": 0}', "at least 1"),
        ("fan/x/config", '{"cmd_t": "a", "spd_rng_min": 5, "spd_rng_max": 2}', "above"),
        ("cover/x/config", '{"cmd_t": "a", "pos_open": 5, "pos_clsd": 5}', "equals"),
        ("climate/x/config", '{"modes": "heat"}', "modes"),
        ("device/x/config", '{"dev": {"name": "x"}}', "components"),
        ("light/x/y/z/config", '{"cmd_t": "a"}', "not a Home Assistant"),
    ],
)
def test_bad_configs_are_logged_and_ignored(
    where: str, payload: str | bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"homeassistant/{where}"
    raw = payload if isinstance(payload, bytes) else payload.encode()
    with caplog.at_level(logging.WARNING):
        update = HomeAssistantAdapter().parse_discovery(topic, raw)
    assert update == DiscoveryUpdate()
    assert reason in caplog.text
    assert topic in caplog.text


def test_an_invalid_update_keeps_the_entity_it_would_replace() -> None:
    adapter = HomeAssistantAdapter()
    topic = "homeassistant/switch/pump/config"
    discover(topic, {"cmd_t": "pump/set", "uniq_id": "pump"}, adapter)
    assert discover(topic, {"uniq_id": "pump"}, adapter) == DiscoveryUpdate()
    assert discover(topic, "", adapter).removed == ["homeassistant:switch.pump"]


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{ states('sensor.x') }}", "needs states"),
        ("{{ value | no_such_filter }}", "does not compile"),
        ("{{ value ", "does not compile"),
        ("{% for %}", "does not compile"),
    ],
)
def test_unsupported_templates_drop_only_their_topic(
    template: str, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = {"cmd_t": "l/set", "stat_t": "l/state", "bri_cmd_t": "l/bri", "bri_cmd_tpl": template}
    with caplog.at_level(logging.WARNING):
        light = entity("homeassistant/light/l/config", config)
    assert light.actions == ["turn_on", "turn_off", "toggle"]
    assert "l/bri" in caplog.text and problem in caplog.text
    with caplog.at_level(logging.WARNING):
        sensor = entity("homeassistant/sensor/s/config", {"stat_t": "s", "val_tpl": template})
    assert HomeAssistantAdapter().state_topics(sensor) == []
    assert state(sensor, "s", "1") is None


def test_a_template_that_fails_at_run_time_never_raises_while_reading() -> None:
    sensor = entity(
        "homeassistant/sensor/s/config",
        {"stat_t": "s", "val_tpl": "{{ (value_json.a / value_json.b) | round(1) }}"},
    )
    assert state(sensor, "s", '{"a": 1, "b": 4}') == {"value": 0.2}
    assert state(sensor, "s", '{"a": 1, "b": 0}') is None
    assert state(sensor, "s", '{"a": "x", "b": 2}') is None
    assert state(sensor, "s", "not json") is None


def test_a_command_template_that_fails_at_run_time_raises_render_error() -> None:
    switch = entity(
        "homeassistant/switch/s/config",
        {"cmd_t": "s/set", "cmd_tpl": "{{ (value | int) // 0 }}"},
    )
    with pytest.raises(RenderError, match="command template"):
        render(switch, "turn_on")


def test_garbage_state_payloads_never_raise() -> None:
    light = entity("homeassistant/light/office/config", OFFICE_LIGHT)
    for payload in (b"", b"\x00\xff", b"null", b"{}", b"[]", b'{"brightness": "x"}', b"nan"):
        for topic in ("office/rgb1/light/status", "office/rgb1/brightness/status"):
            assert HomeAssistantAdapter().parse_state(light, topic, payload, NOW) is None


def test_render_rejects_a_missing_number() -> None:
    light = entity("homeassistant/light/office/config", OFFICE_LIGHT)
    with pytest.raises(RenderError, match="needs a number"):
        render(light, "set_brightness", "bright")


def test_native_is_plain_json() -> None:
    update = discover("homeassistant/device/0AFFD2/config", DEVICE_CONFIG)
    for item in update.entities:
        assert json.loads(json.dumps(item.native)) == item.native


def test_abbreviation_table_expands_to_full_names() -> None:
    assert ABBREVIATIONS["cmd_t"] == "command_topic"
    assert ABBREVIATIONS["bri_scl"] == "brightness_scale"
    assert ABBREVIATIONS["set_pos_t"] == "set_position_topic"
    assert ABBREVIATIONS["pos"] == "reports_position"
    assert all(full.replace("_", "").isalpha() for full in ABBREVIATIONS.values())


def test_messages_are_mqtt_messages() -> None:
    scene = entity("homeassistant/scene/s/config", {"cmd_t": "s/on"})
    messages = HomeAssistantAdapter().render(scene, DeviceCommand(scene.id, "activate"))
    assert messages == [MqttMessage("s/on", "ON", qos=1, retain=False)]
