"""Tasmota adapter: native discovery configs, sensors, state topics and commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from edge_agent.devices.adapter import DeviceCommand, DiscoveryUpdate, MqttMessage, RenderError
from edge_agent.devices.model import Action, Entity, Range
from edge_agent.devices.tasmota import TasmotaAdapter

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DUAL_MAC = "DC4F22F8B5F0"
DIMMER_MAC = "A4CF12E3D4C5"
OPTIONS = {
    "4": 0,
    "11": 0,
    "13": 0,
    "17": 0,
    "20": 0,
    "30": 0,
    "68": 0,
    "73": 0,
    "82": 0,
    "114": 0,
    "117": 0,
}


def config(
    mac: str, topic: str, relays: list[int], names: list[str | None], **extra: Any
) -> dict[str, Any]:
    """A discovery config as xdrv_12_discovery.ino writes it."""
    return {
        "ip": "192.168.1.50",
        "dn": "Hall Switch",
        "fn": (names + [None] * 8)[:8],
        "hn": f"{topic.replace('_', '-')}-1234",
        "mac": mac,
        "md": "Sonoff Dual R2",
        "ty": 0,
        "if": 0,
        "ofln": "Offline",
        "onln": "Online",
        "state": ["OFF", "ON", "TOGGLE", "HOLD"],
        "sw": "13.1.0",
        "t": topic,
        "ft": "%prefix%/%topic%/",
        "tp": ["cmnd", "stat", "tele"],
        "rl": (relays + [0] * 8)[:8],
        "swc": [-1] * 8,
        "swn": [None] * 8,
        "btn": [0] * 8,
        "so": dict(OPTIONS),
        "lk": 0,
        "lt_st": 0,
        "sho": [0, 0, 0, 0],
        "sht": [[0, 0, 0]] * 4,
        "ver": 1,
        **extra,
    }


def dual() -> dict[str, Any]:
    return config(DUAL_MAC, "hall_switch", [1, 1], ["Hall light", "Porch light"])


def dimmer(**extra: Any) -> dict[str, Any]:
    fields = {"dn": "Study dimmer", "md": "Generic PWM", "lt_st": 1} | extra
    return config(DIMMER_MAC, "desk_lamp", [2], ["Desk lamp"], **fields)


def announce(
    adapter: TasmotaAdapter, value: dict[str, Any] | bytes, kind: str = "config"
) -> DiscoveryUpdate:
    mac = value["mac"] if isinstance(value, dict) else DUAL_MAC
    raw = json.dumps(value).encode() if isinstance(value, dict) else value
    return adapter.parse_discovery(f"tasmota/discovery/{mac}/{kind}", raw)


def one(adapter: TasmotaAdapter, value: dict[str, Any]) -> Entity:
    (entity,) = announce(adapter, value).entities
    return entity


def render(
    adapter: TasmotaAdapter, entity: Entity, action: Action, value: float | str | None = None
) -> list[tuple[str, str]]:
    messages = adapter.render(entity, DeviceCommand(entity.id, action, value))
    assert all((m.qos, m.retain) == (1, False) for m in messages)
    return [(m.topic, m.payload) for m in messages]


def read(adapter: TasmotaAdapter, entity: Entity, topic: str, raw: Any) -> dict[str, Any] | None:
    data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    return adapter.parse_state(entity, topic, data, NOW)


@pytest.fixture
def adapter() -> TasmotaAdapter:
    return TasmotaAdapter()


def test_discovery_topics(adapter: TasmotaAdapter) -> None:
    assert adapter.ecosystem == "tasmota"
    assert adapter.discovery_topics() == [
        "tasmota/discovery/+/config",
        "tasmota/discovery/+/sensors",
    ]
    assert adapter.is_discovery(f"tasmota/discovery/{DUAL_MAC}/config")
    assert adapter.is_discovery(f"tasmota/discovery/{DUAL_MAC}/sensors")
    assert not adapter.is_discovery(f"tasmota/discovery/{DUAL_MAC}/other")
    assert not adapter.is_discovery("tele/hall_switch/STATE")


def test_two_relays_are_two_switches(adapter: TasmotaAdapter) -> None:
    update = announce(adapter, dual())
    first, second = update.entities
    assert (first.id, second.id) == (f"tasmota:{DUAL_MAC}:1", f"tasmota:{DUAL_MAC}:2")
    assert (first.name, second.name) == ("Hall light", "Porch light")
    assert first.domain == second.domain == "switch"
    assert first.actions == ["turn_on", "turn_off", "toggle"]
    assert first.aliases == []
    assert update.removed == []
    json.dumps(first.native)


def test_unnamed_relays_take_the_device_name(adapter: TasmotaAdapter) -> None:
    entities = announce(adapter, config(DUAL_MAC, "t", [1, 1], [None, None])).entities
    assert [e.name for e in entities] == ["Hall Switch 1", "Hall Switch 2"]


def test_relay_state(adapter: TasmotaAdapter) -> None:
    first, second = announce(adapter, dual()).entities
    assert adapter.state_topics(first) == [
        "stat/hall_switch/RESULT",
        "tele/hall_switch/STATE",
        "stat/hall_switch/POWER1",
        "stat/hall_switch/POWER",
        "tele/hall_switch/LWT",
    ]
    assert "stat/hall_switch/POWER" not in adapter.state_topics(second)
    assert read(adapter, first, "stat/hall_switch/RESULT", {"POWER1": "ON"}) == {"on": True}
    assert read(adapter, second, "stat/hall_switch/RESULT", {"POWER1": "ON"}) is None
    telemetry = {
        "Time": "2026-01-01T10:00:00",
        "Uptime": "0T01:00:00",
        "POWER1": "OFF",
        "POWER2": "ON",
        "Wifi": {"AP": 1, "SSId": "home", "RSSI": 80},
    }
    assert read(adapter, first, "tele/hall_switch/STATE", telemetry) == {"on": False}
    assert read(adapter, second, "tele/hall_switch/STATE", telemetry) == {"on": True}
    assert read(adapter, second, "stat/hall_switch/POWER2", b"OFF") == {"on": False}
    assert read(adapter, first, "stat/hall_switch/POWER", b"ON") == {"on": True}
    assert read(adapter, first, "tele/hall_switch/LWT", b"Online") == {"available": True}
    assert read(adapter, first, "tele/hall_switch/LWT", b"Offline") == {"available": False}
    assert read(adapter, first, "tele/other/LWT", b"Online") is None


def test_relay_commands(adapter: TasmotaAdapter) -> None:
    first, second = announce(adapter, dual()).entities
    assert render(adapter, first, "turn_on") == [("cmnd/hall_switch/POWER1", "ON")]
    assert render(adapter, second, "turn_off") == [("cmnd/hall_switch/POWER2", "OFF")]
    assert render(adapter, second, "toggle") == [("cmnd/hall_switch/POWER2", "TOGGLE")]
    with pytest.raises(RenderError):
        render(adapter, first, "set_brightness", 50)


def test_custom_full_topic_and_state_texts(adapter: TasmotaAdapter) -> None:
    custom = config(
        DUAL_MAC,
        "plug",
        [1],
        ["Plug"],
        ft="home/%hostname%/%prefix%/%id%",
        hn="plug-5f0",
        state=["AUS", "AN", "UM", "HALT"],
    )
    plug = one(adapter, custom)
    assert render(adapter, plug, "turn_on") == [("home/plug-5f0/cmnd/F8B5F0/POWER1", "AN")]
    assert read(adapter, plug, "home/plug-5f0/stat/F8B5F0/POWER", b"AUS") == {"on": False}
    assert plug.aliases == ["Hall Switch"]  # one relay: the device name also names it


def test_dimmable_light(adapter: TasmotaAdapter) -> None:
    lamp = one(adapter, dimmer())
    assert (lamp.id, lamp.name, lamp.domain) == (f"tasmota:{DIMMER_MAC}:1", "Desk lamp", "light")
    assert lamp.aliases == ["Study dimmer"]
    assert lamp.actions == ["turn_on", "turn_off", "toggle", "set_brightness"]
    assert lamp.ranges == {"set_brightness": Range(min=0, max=100, step=1, unit="%")}
    result = {"POWER": "ON", "Dimmer": 40, "Fade": "OFF", "Speed": 1}
    assert read(adapter, lamp, "stat/desk_lamp/RESULT", result) == {"on": True, "brightness": 40}
    assert render(adapter, lamp, "set_brightness", 55.4) == [("cmnd/desk_lamp/Dimmer", "55")]
    assert render(adapter, lamp, "set_brightness", 140) == [("cmnd/desk_lamp/Dimmer", "100")]
    assert render(adapter, lamp, "turn_on") == [("cmnd/desk_lamp/POWER1", "ON")]
    with pytest.raises(RenderError):
        render(adapter, lamp, "set_color", "red")


def test_dimming_when_power_is_not_linked(adapter: TasmotaAdapter) -> None:
    lamp = one(adapter, dimmer(so=OPTIONS | {"20": 1}))
    assert render(adapter, lamp, "set_brightness", 30) == [
        ("cmnd/desk_lamp/Dimmer", "30"),
        ("cmnd/desk_lamp/POWER1", "ON"),
    ]


def test_colour_light(adapter: TasmotaAdapter) -> None:
    bulb = one(adapter, dimmer(lt_st=5, lk=1))
    assert bulb.actions == [
        "turn_on",
        "turn_off",
        "toggle",
        "set_brightness",
        "set_color_temp",
        "set_color",
    ]
    assert bulb.ranges["set_color_temp"] == Range(min=2000, max=6536, step=1, unit="K")
    assert render(adapter, bulb, "set_color_temp", 2700) == [("cmnd/desk_lamp/CT", "370")]
    assert render(adapter, bulb, "set_color_temp", 10000) == [("cmnd/desk_lamp/CT", "153")]
    assert render(adapter, bulb, "set_color", "red") == [("cmnd/desk_lamp/Color2", "255,0,0")]
    state = {"POWER": "ON", "Dimmer": 80, "Color": "255,0,0,0,0", "CT": 370}
    assert read(adapter, bulb, "tele/desk_lamp/STATE", state) == {
        "on": True,
        "brightness": 80,
        "color_temp": 2703,
    }


def test_unlinked_rgb_and_white_are_two_lights(adapter: TasmotaAdapter) -> None:
    colour, white = announce(adapter, dimmer(rl=[2, 2, 0, 0], lt_st=5, lk=0)).entities
    assert "set_color" in colour.actions and "set_color_temp" not in colour.actions
    assert "set_color_temp" in white.actions and "set_color" not in white.actions
    assert render(adapter, colour, "set_color", "blue") == [("cmnd/desk_lamp/Color2", "0,0,255=")]
    assert render(adapter, white, "set_brightness", 10) == [("cmnd/desk_lamp/Dimmer2", "10")]
    state = {"POWER1": "ON", "POWER2": "OFF", "Dimmer1": 60, "Dimmer2": 0}
    assert read(adapter, colour, "stat/desk_lamp/RESULT", state) == {"on": True, "brightness": 60}
    assert read(adapter, white, "stat/desk_lamp/RESULT", state) == {"on": False, "brightness": 0}


def test_relays_announced_as_lights(adapter: TasmotaAdapter) -> None:
    relay = one(adapter, config(DUAL_MAC, "t", [1], ["Lamp"], so=OPTIONS | {"30": 1}))
    assert (relay.domain, relay.actions) == ("light", ["turn_on", "turn_off", "toggle"])


def test_shutter(adapter: TasmotaAdapter) -> None:
    blinds = one(adapter, config(DUAL_MAC, "blinds", [3, 3], [None, None], dn="Bedroom blinds"))
    assert (blinds.id, blinds.name, blinds.domain) == (
        f"tasmota:{DUAL_MAC}:shutter1",
        "Bedroom blinds",
        "cover",
    )
    assert blinds.actions == ["open", "close", "stop", "set_position"]
    assert render(adapter, blinds, "open") == [("cmnd/blinds/ShutterOpen1", "")]
    assert render(adapter, blinds, "stop") == [("cmnd/blinds/ShutterStop1", "")]
    assert render(adapter, blinds, "set_position", 30) == [("cmnd/blinds/ShutterPosition1", "30")]
    result = {"Shutter1": {"Position": 30, "Direction": 0, "Target": 30, "Tilt": 0}}
    assert read(adapter, blinds, "stat/blinds/RESULT", result) == {"position": 30, "open": True}
    assert "tele/blinds/SENSOR" in adapter.state_topics(blinds)
    inverted = one(adapter, config(DUAL_MAC, "blinds", [3, 3], [None], sho=[1, 0, 0, 0]))
    assert render(adapter, inverted, "set_position", 30) == [("cmnd/blinds/ShutterPosition1", "70")]
    assert read(adapter, inverted, "stat/blinds/RESULT", result) == {"position": 70, "open": True}


def test_an_unpaired_shutter_relay_is_skipped(
    adapter: TasmotaAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    entities = announce(adapter, config(DUAL_MAC, "t", [3, 1], ["Up", "Pump"])).entities
    assert [(e.name, e.domain) for e in entities] == [("Pump", "switch")]
    assert "ignoring shutter relay 1" in caplog.text


def test_sensors(adapter: TasmotaAdapter) -> None:
    sensors = {
        "sn": {
            "Time": "2026-01-01T10:00:00",
            "AM2301": {"Temperature": 21.3, "Humidity": 45.1, "DewPoint": 8.9},
            "TempUnit": "C",
        },
        "ver": 1,
    }
    raw = json.dumps(sensors).encode()
    topic = f"tasmota/discovery/{DUAL_MAC}/sensors"
    assert adapter.parse_discovery(topic, raw).entities == []  # kept until the config comes
    update = announce(adapter, dual())
    by_id = {entity.id: entity for entity in update.entities}
    temperature = by_id[f"tasmota:{DUAL_MAC}:AM2301:Temperature"]
    assert (temperature.name, temperature.domain) == ("Hall Switch temperature", "sensor")
    assert (temperature.device_class, temperature.native["unit"]) == ("temperature", "°C")
    assert by_id[f"tasmota:{DUAL_MAC}:AM2301:DewPoint"].name == "Hall Switch dew point"
    assert adapter.state_topics(temperature) == ["tele/hall_switch/SENSOR", "tele/hall_switch/LWT"]
    reading = {"Time": "2026-01-01T10:05:00", "AM2301": {"Temperature": 22.1, "Humidity": 44}}
    assert read(adapter, temperature, "tele/hall_switch/SENSOR", reading) == {"value": 22.1}
    assert read(adapter, temperature, "tele/hall_switch/SENSOR", {"AM2301": {}}) is None
    # A new sensors message re-announces only the sensors, and drops the ones that went away.
    fewer = {"sn": {"AM2301": {"Temperature": 21.0}, "TempUnit": "F"}, "ver": 1}
    update = adapter.parse_discovery(topic, json.dumps(fewer).encode())
    assert [e.id for e in update.entities] == [f"tasmota:{DUAL_MAC}:AM2301:Temperature"]
    assert update.entities[0].native["unit"] == "°F"
    assert update.removed == [
        f"tasmota:{DUAL_MAC}:AM2301:DewPoint",
        f"tasmota:{DUAL_MAC}:AM2301:Humidity",
    ]


def test_removal(adapter: TasmotaAdapter) -> None:
    announce(adapter, dual())
    one_relay = config(DUAL_MAC, "hall_switch", [1], ["Hall light"])
    assert announce(adapter, one_relay).removed == [f"tasmota:{DUAL_MAC}:2"]
    update = announce(adapter, b"")
    assert (update.entities, update.removed) == ([], [f"tasmota:{DUAL_MAC}:1"])
    assert announce(adapter, b"").removed == []


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"mac": "DC4F22F8B5F0"}',
        json.dumps(dual() | {"mac": "001122334455"}).encode(),
        json.dumps(dual() | {"rl": "1,1"}).encode(),
        json.dumps(dual() | {"tp": ["cmnd"]}).encode(),
        json.dumps(dual() | {"t": None}).encode(),
    ],
)
def test_bad_config_never_raises(
    adapter: TasmotaAdapter, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    update = announce(adapter, raw)
    assert (update.entities, update.removed) == ([], [])
    assert any(f"tasmota/discovery/{DUAL_MAC}/config" in r.getMessage() for r in caplog.records)


def test_bad_sensors_and_state_never_raise(
    adapter: TasmotaAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = announce(adapter, dual()).entities
    assert announce(adapter, b'{"sn": 5}', kind="sensors").entities == []
    assert announce(adapter, b"nope", kind="sensors").entities == []
    assert read(adapter, first, "stat/hall_switch/RESULT", b"{") is None
    assert read(adapter, first, "stat/hall_switch/RESULT", b'"ON"') is None
    assert read(adapter, first, "stat/hall_switch/RESULT", {"POWER1": 1, "Dimmer": "x"}) is None
    assert read(adapter, first, "stat/hall_switch/POWER1", b"MAYBE") is None
    assert read(adapter, first, "tele/hall_switch/LWT", b"\xff") is None
    assert any("stat/hall_switch/RESULT" in r.getMessage() for r in caplog.records)
    assert any("tele/hall_switch/LWT" in r.getMessage() for r in caplog.records)


def test_entities_of_another_adapter_are_not_rendered(adapter: TasmotaAdapter) -> None:
    stranger = Entity(id="x", name="x", domain="switch", ecosystem="tasmota", actions=["turn_on"])
    with pytest.raises(RenderError):
        adapter.render(stranger, DeviceCommand("x", "turn_on"))
    assert adapter.state_topics(stranger) == []
    assert adapter.parse_state(stranger, "tele/x/LWT", b"Online", NOW) is None
    assert MqttMessage("a", "b").qos == 1
