"""Tasmota: entities from Tasmota's native discovery (``tasmota/discovery/<MAC>/config``).

The config message describes the device: its relays (``rl``: 1 relay, 2 light, 3 shutter
half), light subtype (``lt_st``), topic (``t``) and full-topic pattern (``ft``), from which
the command (``cmnd/<t>/POWER1``), result (``stat/<t>/RESULT``) and telemetry
(``tele/<t>/STATE``, ``tele/<t>/LWT``) topics are built as Tasmota builds them. The
``sensors`` message lists the sensor readings the device reports on ``tele/<t>/SENSOR``.
The field meanings follow Tasmota's ``xdrv_12_discovery.ino``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from edge_agent.devices.adapter import (
    DeviceCommand,
    DiscoveryUpdate,
    MqttMessage,
    RenderError,
    decode_json,
)
from edge_agent.devices.model import Action, Domain, Ecosystem, Entity, Range
from edge_agent.devices.values import (
    COLOR_OPTIONS,
    color_rgb,
    command_number,
    half_up,
    is_number,
    kelvin_mired,
)

log = logging.getLogger(__name__)

RELAY = 1
RELAY_LIGHT = 2
RELAY_SHUTTER = 3

# Light subtypes (lt_st): how many PWM channels the light has.
LIGHT_DIMMER = 1
LIGHT_CT = 2
LIGHT_RGB = 3
LIGHT_RGBW = 4
LIGHT_RGBCW = 5

CT_MIREDS = (153, 500)
CT_MIREDS_REDUCED = (200, 380)  # SetOption82: the range Alexa accepts
SHUTTER_INVERTED = 1  # bit of a shutter's options ("sho")

OPTION_NOT_POWER_LINKED = "20"  # a dimmer command does not switch the light on
OPTION_RELAY_AS_LIGHT = "30"  # announce plain relays as lights
OPTION_PWM_MULTI_CHANNELS = "68"  # every PWM channel is a light of its own
OPTION_REDUCED_CT_RANGE = "82"

DEFAULT_STATE_TEXTS = ["OFF", "ON", "TOGGLE", "HOLD"]
PERCENT = Range(min=0, max=100, step=1, unit="%")

SENSOR_UNITS = {
    "Humidity": "%", "Illuminance": "lx", "Power": "W", "ApparentPower": "VA",
    "ReactivePower": "VAr", "Voltage": "V", "Current": "A", "Total": "kWh", "Today": "kWh",
    "Yesterday": "kWh", "CarbonDioxide": "ppm", "eCO2": "ppm", "TVOC": "ppb", "Distance": "cm",
}  # fmt: skip
SENSOR_CLASSES = {
    "Temperature": "temperature", "DewPoint": "temperature", "Humidity": "humidity",
    "Pressure": "pressure", "Illuminance": "illuminance", "Power": "power",
    "Voltage": "voltage", "Current": "current", "Total": "energy", "Today": "energy",
    "Yesterday": "energy", "CarbonDioxide": "co2",
}  # fmt: skip
SENSOR_LABELS = {"Total": "energy total", "Today": "energy today", "Yesterday": "energy yesterday"}


def _words(key: str) -> str:
    """``DewPoint`` -> ``dew point``."""
    return SENSOR_LABELS.get(key) or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", key).lower()


class _ConfigError(ValueError):
    """A discovery config that does not follow Tasmota's format."""


def _require(data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _ConfigError(f"{key!r} is missing or not a {getattr(kind, '__name__', kind)}")
    return value


def _int_list(data: dict[str, Any], key: str, *, required: bool) -> list[int]:
    value = data.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(is_number(v) for v in value):
        raise _ConfigError(f"{key!r} is not a list of numbers")
    return [int(v) for v in value]


def _option(data: dict[str, Any], key: str, default: Any, kind: type) -> Any:
    value = data.get(key, default)
    return value if isinstance(value, kind) and not isinstance(value, bool) else default


def _state_texts(value: Any) -> list[str]:
    """The words for off, on, toggle (and hold) the device uses (``StateText``)."""
    if isinstance(value, list) and len(value) >= 3 and all(isinstance(s, str) for s in value):
        return value
    return DEFAULT_STATE_TEXTS


def _normalise_config(data: Any, mac: str) -> dict[str, Any]:
    """The fields this adapter uses, checked; missing optional ones get Tasmota's defaults."""
    if not isinstance(data, dict):
        raise _ConfigError("not a JSON object")
    if str(_require(data, "mac", str)).upper() != mac.upper():
        raise _ConfigError(f"mac {data['mac']!r} is not the topic's {mac!r}")
    prefixes = _require(data, "tp", list)
    if len(prefixes) < 3 or not all(isinstance(p, str) for p in prefixes):
        raise _ConfigError("'tp' is not the list of cmnd, stat and tele prefixes")
    names = data.get("fn")
    options = data.get("so")
    return {
        "mac": mac,
        "dn": _require(data, "dn", str),
        "hn": _option(data, "hn", "", str),
        "t": _require(data, "t", str),
        "ft": _require(data, "ft", str),
        "tp": prefixes[:3],
        "rl": _int_list(data, "rl", required=True),
        "fn": [n if isinstance(n, str) and n else None for n in names]
        if isinstance(names, list)
        else [],
        "state": _state_texts(data.get("state")),
        "onln": _option(data, "onln", "Online", str),
        "ofln": _option(data, "ofln", "Offline", str),
        "lt_st": _option(data, "lt_st", 0, int),
        "lk": _option(data, "lk", 1, int),
        "ty": _option(data, "ty", 0, int),
        "if": _option(data, "if", 0, int),
        "so": options if isinstance(options, dict) else {},
        "sho": _int_list(data, "sho", required=False),
    }


def _topic(config: dict[str, Any], prefix: str) -> str:
    """The full topic for ``prefix`` (``cmnd``, ``stat``, ``tele``), ending with ``/``."""
    topic = (
        config["ft"]
        .replace("%prefix%", prefix)
        .replace("%topic%", config["t"])
        .replace("%hostname%", config["hn"])
        .replace("%id%", config["mac"][-6:])
    )
    return str(topic) if topic.endswith("/") else f"{topic}/"


def _device_native(config: dict[str, Any]) -> dict[str, Any]:
    cmnd, stat, tele = (_topic(config, prefix) for prefix in config["tp"])
    return {
        "mac": config["mac"],
        "command_topic": cmnd,
        "result_topic": f"{stat}RESULT",
        "stat_topic": stat,
        "state_topic": f"{tele}STATE",
        "sensor_topic": f"{tele}SENSOR",
        "lwt_topic": f"{tele}LWT",
        "online": config["onln"],
        "offline": config["ofln"],
        "power_off": config["state"][0],
        "power_on": config["state"][1],
        "power_toggle": config["state"][2],
    }


def _option_on(config: dict[str, Any], option: str) -> bool:
    return bool(config["so"].get(option) == 1)


def _light_features(config: dict[str, Any], index: int) -> dict[str, Any]:
    """How light relay ``index`` is dimmed and coloured (after hatasmota's reading of the
    subtypes: split RGB + white lights, per-channel PWM lights, Tuya dimmers)."""
    subtype = config["lt_st"]
    dimmer_cmd = dimmer_key = "Dimmer"
    color_suffix = ""
    if config["ty"]:
        dimmer_cmd = "Dimmer3"  # TuyaMCU dimmers take their level as Dimmer3
    if _option_on(config, OPTION_PWM_MULTI_CHANNELS):
        dimmer_cmd = dimmer_key = f"Channel{index + 1}"
        subtype = LIGHT_DIMMER
    elif not config["lk"] and subtype >= LIGHT_RGBW:
        # RGB and white unlinked: the first light relay is the colour, the second the white.
        first = config["rl"].index(RELAY_LIGHT)
        part = index - first + 1
        dimmer_cmd = dimmer_key = f"Dimmer{part}"
        if part == 1:
            subtype, color_suffix = LIGHT_RGB, "="  # "=": leave the white channels alone
        else:
            subtype = LIGHT_CT if subtype == LIGHT_RGBCW else LIGHT_DIMMER
    reduced = _option_on(config, OPTION_REDUCED_CT_RANGE)
    return {
        "subtype": subtype,
        "dimmer_cmd": dimmer_cmd,
        "dimmer_key": dimmer_key,
        "color_suffix": color_suffix,
        "ct": list(CT_MIREDS_REDUCED if reduced else CT_MIREDS),
        "not_power_linked": _option_on(config, OPTION_NOT_POWER_LINKED),
    }


def _light_capabilities(
    light: dict[str, Any],
) -> tuple[list[Action], dict[str, Range], dict[str, list[str]]]:
    subtype = light["subtype"]
    actions: list[Action] = ["turn_on", "turn_off", "toggle"]
    ranges: dict[str, Range] = {}
    options: dict[str, list[str]] = {}
    if subtype >= LIGHT_DIMMER:
        actions.append("set_brightness")
        ranges["set_brightness"] = PERCENT
    if subtype in (LIGHT_CT, LIGHT_RGBCW):
        low, high = light["ct"]
        actions.append("set_color_temp")
        ranges["set_color_temp"] = Range(
            min=round(kelvin_mired(high)), max=round(kelvin_mired(low)), unit="K"
        )
    if subtype >= LIGHT_RGB:
        actions.append("set_color")
        options["set_color"] = list(COLOR_OPTIONS)
    return actions, ranges, options


def _shutter_pairs(config: dict[str, Any]) -> list[int]:
    """The first relay of each shutter: a shutter drives two consecutive relays (up, down)."""
    relays: list[int] = config["rl"]
    pairs: list[int] = []
    index = 0
    while index < len(relays):
        if relays[index] == RELAY_SHUTTER:
            if index + 1 < len(relays) and relays[index + 1] == RELAY_SHUTTER:
                pairs.append(index)
                index += 2
                continue
            log.warning("ignoring shutter relay %d of %s: no pair", index + 1, config["mac"])
        index += 1
    return pairs


class TasmotaAdapter:
    """Tasmota devices announced under ``prefix`` (Tasmota's fixed ``tasmota/discovery``)."""

    ecosystem: Ecosystem = "tasmota"

    def __init__(self, prefix: str = "tasmota/discovery") -> None:
        self.prefix = prefix.rstrip("/")
        self._configs: dict[str, dict[str, Any]] = {}
        self._sensors: dict[str, dict[str, Any]] = {}
        """MAC -> the ``sn`` object of its sensors message, kept until its config comes."""
        self._ids: dict[str, set[str]] = {}
        """MAC -> ids of the entities last announced, to tell which ones went away."""

    def discovery_topics(self) -> list[str]:
        return [f"{self.prefix}/+/config", f"{self.prefix}/+/sensors"]

    def is_discovery(self, topic: str) -> bool:
        return self._split(topic) is not None

    def _split(self, topic: str) -> tuple[str, str] | None:
        """``(MAC, "config" | "sensors")`` of a discovery topic."""
        if not topic.startswith(self.prefix + "/"):
            return None
        parts = topic[len(self.prefix) + 1 :].split("/")
        if len(parts) != 2 or not parts[0] or parts[1] not in ("config", "sensors"):
            return None
        return parts[0], parts[1]

    def parse_discovery(self, topic: str, payload: bytes) -> DiscoveryUpdate:
        split = self._split(topic)
        if split is None:
            return DiscoveryUpdate()
        mac, kind = split
        if kind == "config":
            if not payload.strip():
                self._configs.pop(mac, None)  # the device cleared its retained discovery
            elif not self._store_config(topic, mac, payload):
                return DiscoveryUpdate()
        elif not payload.strip():
            self._sensors.pop(mac, None)
        elif not self._store_sensors(topic, mac, payload):
            return DiscoveryUpdate()
        return self._announce(mac, relays=kind == "config")

    def _store_config(self, topic: str, mac: str, payload: bytes) -> bool:
        data = decode_json(topic, payload)
        if data is None:
            return False
        try:
            self._configs[mac] = _normalise_config(data, mac)
        except _ConfigError as error:
            log.warning("ignoring %s: %s", topic, error)
            return False
        return True

    def _store_sensors(self, topic: str, mac: str, payload: bytes) -> bool:
        data = decode_json(topic, payload)
        if data is None:
            return False
        if not isinstance(data, dict) or not isinstance(data.get("sn"), dict):
            log.warning("ignoring %s: no 'sn' object of sensor readings", topic)
            return False
        self._sensors[mac] = data["sn"]
        return True

    def _announce(self, mac: str, *, relays: bool) -> DiscoveryUpdate:
        config = self._configs.get(mac)
        relay_entities = self._relay_entities(config) if config else []
        sensor_entities = (
            self._sensor_entities(config, self._sensors.get(mac, {})) if config else []
        )
        ids = {entity.id for entity in relay_entities + sensor_entities}
        removed = sorted(self._ids.get(mac, set()) - ids)
        if ids:
            self._ids[mac] = ids
        else:
            self._ids.pop(mac, None)
        # A sensors message leaves the relays as they are: re-announcing them would reset them.
        announced = (relay_entities if relays else []) + sensor_entities
        return DiscoveryUpdate(entities=announced, removed=removed)

    # -- entities ------------------------------------------------------------------------

    def _relay_entities(self, config: dict[str, Any]) -> list[Entity]:
        entities: list[Entity] = []
        for index, kind in enumerate(config["rl"]):
            if kind == RELAY_LIGHT and config["if"] and index == 0:
                entities.append(self._relay(config, index, "light"))  # the iFan's plain lamp
            elif kind == RELAY_LIGHT:
                entities.append(self._light(config, index))
            elif kind == RELAY:
                as_light = _option_on(config, OPTION_RELAY_AS_LIGHT)
                entities.append(self._relay(config, index, "light" if as_light else "switch"))
        shutters = _shutter_pairs(config)
        if len(entities) == 1 and not shutters and entities[0].name != config["dn"]:
            entities[0].aliases.append(config["dn"])
        entities.extend(
            self._shutter(config, number, index, alone=len(shutters) == 1)
            for number, index in enumerate(shutters, start=1)
        )
        return entities

    def _name(self, config: dict[str, Any], index: int) -> str:
        names = config["fn"]
        name = names[index] if index < len(names) else None
        return name or f"{config['dn']} {index + 1}"

    def _relay(self, config: dict[str, Any], index: int, domain: Domain) -> Entity:
        return Entity(
            id=f"tasmota:{config['mac']}:{index + 1}",
            name=self._name(config, index),
            domain=domain,
            ecosystem=self.ecosystem,
            actions=["turn_on", "turn_off", "toggle"],
            native=_device_native(config) | {"kind": "relay", "relay": index + 1},
        )

    def _light(self, config: dict[str, Any], index: int) -> Entity:
        light = _light_features(config, index)
        actions, ranges, options = _light_capabilities(light)
        return Entity(
            id=f"tasmota:{config['mac']}:{index + 1}",
            name=self._name(config, index),
            domain="light",
            ecosystem=self.ecosystem,
            actions=actions,
            ranges=ranges,
            options=options,
            native=_device_native(config) | {"kind": "light", "relay": index + 1} | light,
        )

    def _shutter(self, config: dict[str, Any], number: int, index: int, *, alone: bool) -> Entity:
        shutter_options = config["sho"]
        inverted = number <= len(shutter_options) and bool(
            shutter_options[number - 1] & SHUTTER_INVERTED
        )
        return Entity(
            id=f"tasmota:{config['mac']}:shutter{number}",
            name=config["dn"] if alone else f"{config['dn']} shutter {number}",
            domain="cover",
            ecosystem=self.ecosystem,
            actions=["open", "close", "stop", "set_position"],
            ranges={"set_position": PERCENT},
            native=_device_native(config)
            | {"kind": "shutter", "shutter": number, "relay": index + 1, "inverted": inverted},
        )

    def _sensor_entities(self, config: dict[str, Any], readings: dict[str, Any]) -> list[Entity]:
        """One sensor entity per numeric reading, e.g. ``{"AM2301": {"Temperature": 21.3}}``."""
        pairs = [
            (sensor, key)
            for sensor, values in readings.items()
            if isinstance(values, dict)
            for key, value in values.items()
            if is_number(value)
        ]
        counts: dict[str, int] = {}
        for _, key in pairs:
            counts[key] = counts.get(key, 0) + 1
        temperature_unit = "°" + str(readings.get("TempUnit", "C"))
        pressure_unit = str(readings.get("PressureUnit", "hPa"))
        units = SENSOR_UNITS | {
            "Temperature": temperature_unit,
            "DewPoint": temperature_unit,
            "Pressure": pressure_unit,
            "SeaPressure": pressure_unit,
        }
        entities = []
        for sensor, key in pairs:
            label = _words(key) if counts[key] == 1 else f"{sensor} {_words(key)}"
            entities.append(
                Entity(
                    id=f"tasmota:{config['mac']}:{sensor}:{key}",
                    name=f"{config['dn']} {label}",
                    domain="sensor",
                    device_class=SENSOR_CLASSES.get(key),
                    ecosystem=self.ecosystem,
                    native=_device_native(config)
                    | {"kind": "sensor", "path": [sensor, key], "unit": units.get(key, "")},
                )
            )
        return entities

    # -- state ---------------------------------------------------------------------------

    def state_topics(self, entity: Entity) -> list[str]:
        native = entity.native
        kind = native.get("kind")
        if kind is None:
            return []
        if kind == "sensor":
            return [native["sensor_topic"], native["lwt_topic"]]
        topics = [native["result_topic"], native["state_topic"]]
        if kind == "shutter":
            topics.append(native["sensor_topic"])  # position also comes with the telemetry
        else:
            topics.extend(self._power_topics(native))
        return [*topics, native["lwt_topic"]]

    def _power_topics(self, native: dict[str, Any]) -> list[str]:
        relay = native["relay"]
        # A device with one relay says POWER, one with several says POWER1, POWER2...
        bare = [f"{native['stat_topic']}POWER"] if relay == 1 else []
        return [f"{native['stat_topic']}POWER{relay}", *bare]

    def parse_state(
        self, entity: Entity, topic: str, payload: bytes, now: datetime
    ) -> dict[str, Any] | None:
        native = entity.native
        if "kind" not in native:
            return None
        if topic == native["lwt_topic"]:
            return self._availability(native, topic, payload)
        if native["kind"] in ("relay", "light") and topic in self._power_topics(native):
            on = self._power(native, payload.decode("utf-8", errors="replace").strip())
            return None if on is None else {"on": on}
        if topic not in (native["result_topic"], native["state_topic"], native["sensor_topic"]):
            return None
        data = decode_json(topic, payload)
        if not isinstance(data, dict):
            if data is not None:
                log.warning("ignoring %s: not a JSON object", topic)
            return None
        return self._read(native, data) or None

    def _availability(
        self, native: dict[str, Any], topic: str, payload: bytes
    ) -> dict[str, Any] | None:
        text = payload.decode("utf-8", errors="replace").strip()
        if text in (native["online"], native["offline"]):
            return {"available": text == native["online"]}
        log.warning(
            "ignoring %s: %r is neither %s nor %s",
            topic,
            text[:40],
            native["online"],
            native["offline"],
        )
        return None

    def _power(self, native: dict[str, Any], text: Any) -> bool | None:
        if text == native["power_on"]:
            return True
        if text == native["power_off"]:
            return False
        return None

    def _read(self, native: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        kind = native["kind"]
        if kind == "sensor":
            sensor, key = native["path"]
            values = data.get(sensor)
            value = values.get(key) if isinstance(values, dict) else None
            return {"value": value} if is_number(value) else {}
        if kind == "shutter":
            return self._read_shutter(native, data)
        out: dict[str, Any] = {}
        relay = native["relay"]
        power = data.get(f"POWER{relay}", data.get("POWER") if relay == 1 else None)
        on = self._power(native, power)
        if on is not None:
            out["on"] = on
        if kind == "light":
            dimmer = data.get(native["dimmer_key"])
            if is_number(dimmer):
                out["brightness"] = round(dimmer)
            mired = data.get("CT")
            if native["subtype"] in (LIGHT_CT, LIGHT_RGBCW) and is_number(mired) and mired > 0:
                out["color_temp"] = round(kelvin_mired(mired))
        return out

    def _read_shutter(self, native: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        shutter = data.get(f"Shutter{native['shutter']}")
        position = shutter.get("Position") if isinstance(shutter, dict) else None
        if not is_number(position):
            return {}
        percent = 100 - round(position) if native["inverted"] else round(position)
        return {"position": percent, "open": percent > 0}

    # -- commands ------------------------------------------------------------------------

    def render(self, entity: Entity, command: DeviceCommand) -> list[MqttMessage]:
        native = entity.native
        if command.action not in entity.actions or "kind" not in native:
            raise RenderError(f"{entity.id} does not support {command.action}")
        if native["kind"] == "shutter":
            return self._render_shutter(native, command)
        words = {
            "turn_on": native["power_on"],
            "turn_off": native["power_off"],
            "toggle": native["power_toggle"],
        }
        if command.action in words:
            return [self._cmnd(native, f"POWER{native['relay']}", words[command.action])]
        return self._render_light(native, command)

    def _cmnd(self, native: dict[str, Any], command: str, payload: str) -> MqttMessage:
        return MqttMessage(topic=f"{native['command_topic']}{command}", payload=payload)

    def _render_light(self, native: dict[str, Any], command: DeviceCommand) -> list[MqttMessage]:
        if command.action == "set_color":
            red, green, blue = color_rgb(command.value)
            return [self._cmnd(native, "Color2", f"{red},{green},{blue}{native['color_suffix']}")]
        if command.action == "set_color_temp":
            kelvin = command_number(command)
            if kelvin <= 0:
                raise RenderError(f"colour temperature {kelvin} K is not positive")
            low, high = native["ct"]
            return [self._cmnd(native, "CT", str(round(min(high, max(low, kelvin_mired(kelvin))))))]
        if command.action == "set_brightness":
            percent = half_up(min(100.0, max(0.0, command_number(command))))
            messages = [self._cmnd(native, native["dimmer_cmd"], str(percent))]
            if native["not_power_linked"] and percent > 0:
                # SetOption20: dimming leaves the power alone, so switch it on as asked.
                messages.append(self._cmnd(native, f"POWER{native['relay']}", native["power_on"]))
            return messages
        raise RenderError(f"Tasmota cannot render {command.action}")

    def _render_shutter(self, native: dict[str, Any], command: DeviceCommand) -> list[MqttMessage]:
        number = native["shutter"]
        verbs = {"open": "ShutterOpen", "close": "ShutterClose", "stop": "ShutterStop"}
        if command.action in verbs:
            return [self._cmnd(native, f"{verbs[command.action]}{number}", "")]
        if command.action == "set_position":
            percent = half_up(min(100.0, max(0.0, command_number(command))))
            native_position = 100 - percent if native["inverted"] else percent
            return [self._cmnd(native, f"ShutterPosition{number}", str(native_position))]
        raise RenderError(f"Tasmota cannot render {command.action} for a shutter")
