"""zigbee2mqtt: entities from the retained ``<base>/bridge/devices`` list and its exposes.

Each device's ``definition.exposes`` says what it can do: specific exposes (light, switch,
cover, lock, climate, fan) become one commandable entity each, per endpoint; read-only
generic exposes (temperature, contact, battery...) become sensor entities. State arrives as
JSON on ``<base>/<friendly_name>``, commands go as JSON to ``<base>/<friendly_name>/set``.

The colour table and the percent/mired helpers at the top are shared with the Tasmota and
Homie adapters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
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
    from_percent,
    half_up,
    is_number,
    kelvin_mired,
    to_percent,
)

log = logging.getLogger(__name__)

ACCESS_STATE = 1  # published in the device's state message
ACCESS_SET = 2  # accepted by /set

SPECIFIC_TYPES: dict[str, Domain] = {
    "light": "light",
    "switch": "switch",
    "cover": "cover",
    "lock": "lock",
    "climate": "climate",
    "fan": "fan",
}
SKIPPED_SENSORS = frozenset({"linkquality", "action", "update_available", "identify", "effect"})
"""Exposes that describe the radio, momentary events or firmware, not the device's world."""
SENSOR_CLASSES = frozenset(
    {
        "temperature", "humidity", "pressure", "illuminance", "illuminance_lux", "battery",
        "voltage", "current", "power", "energy", "co2", "voc", "pm25", "formaldehyd",
        "soil_moisture", "local_temperature",
    }
)  # fmt: skip
BINARY_CLASSES = frozenset(
    {
        "contact", "occupancy", "presence", "water_leak", "smoke", "gas", "carbon_monoxide",
        "vibration", "tamper", "battery_low",
    }
)  # fmt: skip
SETPOINTS = ("occupied_heating_setpoint", "current_heating_setpoint", "occupied_cooling_setpoint")
FAN_SPEEDS = ("low", "medium", "high")
DEFAULT_TEMPERATURE_STEP = 0.5  # thermostats resolve half degrees when the device says nothing


class _ExposeError(ValueError):
    """A part of the devices list that does not follow the documented format."""


def _availability(topic: str, payload: bytes) -> dict[str, Any] | None:
    """``{"state": "online"}`` (current) or plain ``online`` (legacy)."""
    text = payload.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        data = decode_json(topic, payload)
        text = data.get("state", "") if isinstance(data, dict) else ""
    if text in ("online", "offline"):
        return {"available": text == "online"}
    log.warning("ignoring %s: availability %r is neither online nor offline", topic, text[:40])
    return None


def _property(expose: dict[str, Any]) -> str:
    prop = expose.get("property")
    if not isinstance(prop, str) or not prop:
        raise _ExposeError(f"{expose.get('type')} expose {expose.get('name')!r} has no property")
    return prop


def _access(expose: dict[str, Any]) -> int:
    access = expose.get("access")
    if not isinstance(access, int) or isinstance(access, bool):
        raise _ExposeError(f"expose {expose.get('property')!r} has no access bits")
    return access


def _optional_number(expose: dict[str, Any], key: str) -> float | None:
    value = expose.get(key)
    if value is None:
        return None
    if not is_number(value):
        raise _ExposeError(f"{key} of {expose.get('property')!r} is not a number: {value!r}")
    return float(value)


def _binary(expose: dict[str, Any]) -> dict[str, Any]:
    prop = _property(expose)
    if expose.get("value_on") is None or expose.get("value_off") is None:
        raise _ExposeError(f"binary {prop!r} has no value_on/value_off")
    return {
        "type": "binary",
        "property": prop,
        "access": _access(expose),
        "on": expose["value_on"],
        "off": expose["value_off"],
        "toggle": expose.get("value_toggle"),
    }


def _numeric(expose: dict[str, Any]) -> dict[str, Any]:
    prop = _property(expose)
    low = _optional_number(expose, "value_min")
    high = _optional_number(expose, "value_max")
    step = _optional_number(expose, "value_step")
    if low is not None and high is not None and low >= high:
        raise _ExposeError(f"numeric {prop!r} has value_min {low} >= value_max {high}")
    if step is not None and step <= 0:
        raise _ExposeError(f"numeric {prop!r} has value_step {step}")
    unit = expose.get("unit")
    return {
        "type": "numeric",
        "property": prop,
        "access": _access(expose),
        "min": low,
        "max": high,
        "step": step,
        "unit": unit if isinstance(unit, str) else "",
    }


def _enum(expose: dict[str, Any]) -> dict[str, Any]:
    prop = _property(expose)
    values = expose.get("values")
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise _ExposeError(f"enum {prop!r} has no list of values")
    return {"type": "enum", "property": prop, "access": _access(expose), "values": values}


def _composite(expose: dict[str, Any]) -> dict[str, Any]:
    prop = _property(expose)
    parts = expose.get("features")
    if not isinstance(parts, list):
        raise _ExposeError(f"composite {prop!r} has no features")
    # A composite has no access of its own: settable when any part is.
    access = 0
    for part in parts:
        if isinstance(part, dict) and isinstance(part.get("access"), int):
            access |= part["access"]
    return {"type": "composite", "property": prop, "access": access}


GENERIC: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "binary": _binary,
    "numeric": _numeric,
    "enum": _enum,
    "composite": _composite,
}


def _features(expose: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """The usable features of a specific expose by name; broken ones are logged and left out."""
    parts = expose.get("features")
    if not isinstance(parts, list):
        raise _ExposeError(f"{expose.get('type')} expose has no features list")
    features: dict[str, dict[str, Any]] = {}
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            log.warning("ignoring a feature of %s: not an object with a name", where)
            continue
        parse = GENERIC.get(str(part.get("type")))
        if parse is None:
            continue  # text and list features carry nothing we command or report
        try:
            features.setdefault(part["name"], parse(part))
        except _ExposeError as error:
            log.warning("ignoring a feature of %s: %s", where, error)
    return features


def _settable(feature: dict[str, Any] | None) -> bool:
    return feature is not None and bool(feature["access"] & ACCESS_SET)


def _of_type(feature: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    return feature if feature is not None and feature["type"] == kind else None


PERCENT = Range(min=0, max=100, step=1, unit="%")


def _bounded(feature: dict[str, Any] | None, low: float, high: float) -> dict[str, Any] | None:
    """A numeric feature with both bounds (the usual ones where the device omits them), or
    None when it is not numeric or its bounds leave nothing to scale a percent onto."""
    feature = _of_type(feature, "numeric")
    if feature is None:
        return None
    feature = feature | {
        "min": low if feature["min"] is None else feature["min"],
        "max": high if feature["max"] is None else feature["max"],
    }
    return feature if feature["max"] > feature["min"] else None


class _Capabilities:
    """What one specific expose supports, collected while reading its features."""

    def __init__(self) -> None:
        self.roles: dict[str, dict[str, Any]] = {}
        """Role (state, brightness, setpoint...) -> feature, for state and value commands."""
        self.commands: dict[str, dict[str, Any]] = {}
        """Action -> the fixed /set body that carries it out."""
        self.actions: list[Action] = []
        self.ranges: dict[str, Range] = {}
        self.options: dict[str, list[str]] = {}

    def fixed(self, action: Action, body: dict[str, Any]) -> None:
        self.actions.append(action)
        self.commands[action] = body

    def value(self, action: Action, role: str, feature: dict[str, Any], bounds: Range) -> None:
        self.roles[role] = feature
        if _settable(feature):
            self.actions.append(action)
            self.ranges[action] = bounds

    def on_off(self, feature: dict[str, Any] | None) -> None:
        state = _of_type(feature, "binary")
        if state is None:
            return
        self.roles["state"] = state
        if _settable(state):
            self.fixed("turn_on", {state["property"]: state["on"]})
            self.fixed("turn_off", {state["property"]: state["off"]})
            if state["toggle"] is not None:
                self.fixed("toggle", {state["property"]: state["toggle"]})


def _light(features: dict[str, dict[str, Any]], caps: _Capabilities) -> None:
    caps.on_off(features.get("state"))
    brightness = _bounded(features.get("brightness"), 0, 254)
    if brightness is not None:
        caps.value("set_brightness", "brightness", brightness, PERCENT)
    # The documented example has no bounds; 150..500 mired is the common bulb range.
    color_temp = _bounded(features.get("color_temp"), 150, 500)
    if color_temp is not None and color_temp["min"] > 0:
        kelvin = Range(
            min=round(kelvin_mired(color_temp["max"])),
            max=round(kelvin_mired(color_temp["min"])),
            unit="K",
        )
        caps.value("set_color_temp", "color_temp", color_temp, kelvin)
    color = features.get("color_hs") or features.get("color_xy")
    if _settable(color) and color is not None:
        caps.actions.append("set_color")
        caps.roles["color"] = color
        caps.options["set_color"] = list(COLOR_OPTIONS)


def _switch(features: dict[str, dict[str, Any]], caps: _Capabilities) -> None:
    caps.on_off(features.get("state"))


def _cover(features: dict[str, dict[str, Any]], caps: _Capabilities) -> None:
    state = features.get("state")
    if state is not None and state["type"] in ("binary", "enum"):
        caps.roles["state"] = state
        if _settable(state):
            words = (
                {"open": state["on"], "close": state["off"]}
                if state["type"] == "binary"
                else {
                    v.lower(): v for v in state["values"] if v.lower() in ("open", "close", "stop")
                }
            )
            for action in ("open", "close", "stop"):
                if action in words:
                    caps.fixed(action, {state["property"]: words[action]})
    position = _bounded(features.get("position"), 0, 100)
    if position is not None:
        caps.value("set_position", "position", position, PERCENT)


def _lock(features: dict[str, dict[str, Any]], caps: _Capabilities) -> None:
    state = _of_type(features.get("state"), "binary")
    if state is not None:
        caps.roles["state"] = state
        if _settable(state):
            caps.fixed("lock", {state["property"]: state["on"]})
            caps.fixed("unlock", {state["property"]: state["off"]})
    lock_state = _of_type(features.get("lock_state"), "enum")
    if lock_state is not None:
        caps.roles["lock_state"] = lock_state


def _climate(features: dict[str, dict[str, Any]], caps: _Capabilities) -> None:
    setpoint = next(
        (f for name in SETPOINTS if (f := _of_type(features.get(name), "numeric")) is not None),
        None,
    )
    if setpoint is not None:
        bounds = Range(
            min=setpoint["min"] if setpoint["min"] is not None else 5,
            max=setpoint["max"] if setpoint["max"] is not None else 35,
            step=setpoint["step"] or DEFAULT_TEMPERATURE_STEP,
            unit=setpoint["unit"] or "°C",
        )
        caps.value("set_temperature", "setpoint", setpoint, bounds)
    local = _of_type(features.get("local_temperature"), "numeric")
    if local is not None:
        caps.roles["local_temperature"] = local
    mode = _of_type(features.get("system_mode"), "enum")
    if mode is not None:
        caps.roles["system_mode"] = mode
        if _settable(mode):
            caps.actions.append("set_hvac_mode")
            caps.options["set_hvac_mode"] = list(mode["values"])
            if "off" in mode["values"]:
                caps.fixed("turn_off", {mode["property"]: "off"})


def _fan(features: dict[str, dict[str, Any]], caps: _Capabilities) -> None:
    caps.on_off(features.get("state"))
    mode = _of_type(features.get("mode"), "enum")
    if mode is not None and any(speed in mode["values"] for speed in FAN_SPEEDS):
        caps.value("set_fan_percentage", "fan_mode", mode, PERCENT)


BUILDERS: dict[str, Callable[[dict[str, dict[str, Any]], _Capabilities], None]] = {
    "light": _light,
    "switch": _switch,
    "cover": _cover,
    "lock": _lock,
    "climate": _climate,
    "fan": _fan,
}


def _sensor_feature(expose: dict[str, Any]) -> dict[str, Any] | None:
    """The feature of a read-only generic expose worth an entity of its own, or None."""
    parse = GENERIC.get(str(expose.get("type")))
    if parse is None or expose.get("type") == "composite":
        return None
    if expose.get("name") in SKIPPED_SENSORS or expose.get("category") == "config":
        return None
    access = _access(expose)
    if not access & ACCESS_STATE or access & ACCESS_SET:
        return None  # settable generic exposes are device settings, not things people command
    return parse(expose)


def _fan_speeds(feature: dict[str, Any]) -> list[str]:
    return [speed for speed in FAN_SPEEDS if speed in feature["values"]]


def _read_state(kind: str, feature: dict[str, Any], raw: Any, out: dict[str, Any]) -> None:
    key = {"lock": "locked", "cover": "open"}.get(kind, "on")
    if feature["type"] == "binary":
        if raw == feature["on"]:
            out[key] = True
        elif raw == feature["off"]:
            out[key] = False
    elif isinstance(raw, str) and raw.upper() in ("OPEN", "CLOSE", "CLOSED"):
        out[key] = raw.upper() == "OPEN"


def _read_role(
    kind: str, role: str, feature: dict[str, Any], raw: Any, out: dict[str, Any]
) -> None:
    """Put what the raw value of one role says into the normalised state ``out``."""
    if role == "state":
        _read_state(kind, feature, raw, out)
    elif role == "lock_state" and raw in ("locked", "unlocked"):
        out.setdefault("locked", raw == "locked")
    elif role == "system_mode" and isinstance(raw, str):
        out["hvac_mode"] = raw
    elif role == "fan_mode" and isinstance(raw, str):
        speeds = _fan_speeds(feature)
        if raw in speeds:
            out["percentage"] = round((speeds.index(raw) + 1) / len(speeds) * 100)
        elif raw == "off":
            out["percentage"] = 0
    elif role == "value":
        _read_value(feature, raw, out)
    elif is_number(raw):
        _read_number(role, feature, float(raw), out)


def _read_number(role: str, feature: dict[str, Any], raw: float, out: dict[str, Any]) -> None:
    if role == "brightness":
        out["brightness"] = to_percent(raw, feature["min"], feature["max"])
    elif role == "color_temp" and raw > 0:
        out["color_temp"] = round(kelvin_mired(raw))
    elif role == "position":
        out["position"] = to_percent(raw, feature["min"], feature["max"])
        out.setdefault("open", raw > feature["min"])
    elif role == "setpoint":
        out["temperature"] = raw
    elif role == "local_temperature":
        out["current_temperature"] = raw


def _read_value(feature: dict[str, Any], raw: Any, out: dict[str, Any]) -> None:
    if feature["type"] == "binary":
        if raw in (feature["on"], feature["off"]):
            out["on"] = raw == feature["on"]
            if feature["property"].startswith("contact"):
                out["open"] = out["on"]  # z2m's contact is true when closed: value_on is false
    elif (feature["type"] == "numeric" and is_number(raw)) or (
        feature["type"] == "enum" and isinstance(raw, str)
    ):
        out["value"] = raw


def _snap(value: float, feature: dict[str, Any]) -> float:
    """``value`` on the feature's step grid, within its bounds."""
    step = feature.get("step")
    if step:
        base = feature["min"] if feature["min"] is not None else 0.0
        value = base + half_up((value - base) / step) * step
    if feature["min"] is not None:
        value = max(feature["min"], value)
    if feature["max"] is not None:
        value = min(feature["max"], value)
    return round(value, 6)


def _json_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _color_body(roles: dict[str, dict[str, Any]], command: DeviceCommand) -> dict[str, Any]:
    red, green, blue = color_rgb(command.value)
    return {roles["color"]["property"]: {"r": red, "g": green, "b": blue}}


def _hvac_mode_body(roles: dict[str, dict[str, Any]], command: DeviceCommand) -> dict[str, Any]:
    mode = roles["system_mode"]
    if command.value not in mode["values"]:
        raise RenderError(f"hvac mode {command.value!r} is not one of {mode['values']}")
    return {mode["property"]: command.value}


def _percent_body(
    role: str,
) -> Callable[[dict[str, dict[str, Any]], DeviceCommand], dict[str, Any]]:
    def body(roles: dict[str, dict[str, Any]], command: DeviceCommand) -> dict[str, Any]:
        feature = roles[role]
        raw = from_percent(command_number(command), feature["min"], feature["max"])
        return {feature["property"]: half_up(raw)}

    return body


def _color_temp_body(roles: dict[str, dict[str, Any]], command: DeviceCommand) -> dict[str, Any]:
    feature, kelvin = roles["color_temp"], command_number(command)
    if kelvin <= 0:
        raise RenderError(f"colour temperature {kelvin} K is not positive")
    mired = min(feature["max"], max(feature["min"], kelvin_mired(kelvin)))
    return {feature["property"]: round(mired)}


def _setpoint_body(roles: dict[str, dict[str, Any]], command: DeviceCommand) -> dict[str, Any]:
    feature = roles["setpoint"]
    return {feature["property"]: _json_number(_snap(command_number(command), feature))}


def _fan_body(roles: dict[str, dict[str, Any]], command: DeviceCommand) -> dict[str, Any]:
    mode, percent = roles["fan_mode"], command_number(command)
    if percent <= 0:
        if "off" in mode["values"]:
            return {mode["property"]: "off"}
        state = roles.get("state")
        if state is None or not _settable(state):
            raise RenderError("this fan has no way to be turned off")
        return {state["property"]: state["off"]}
    speeds = _fan_speeds(mode)
    # The nearest speed, so that a percentage read back from a speed sets that same speed.
    index = min(len(speeds), max(1, half_up(percent * len(speeds) / 100))) - 1
    return {mode["property"]: speeds[index]}


VALUE_BODIES: dict[str, Callable[[dict[str, dict[str, Any]], DeviceCommand], dict[str, Any]]] = {
    "set_brightness": _percent_body("brightness"),
    "set_position": _percent_body("position"),
    "set_color_temp": _color_temp_body,
    "set_color": _color_body,
    "set_temperature": _setpoint_body,
    "set_hvac_mode": _hvac_mode_body,
    "set_fan_percentage": _fan_body,
}
"""The /set body of each command that carries a value, from the entity's roles."""


def _split_name(friendly_name: str) -> tuple[str | None, str]:
    """``kitchen/ceiling light`` -> area ``kitchen``, name ``ceiling light`` (a common
    convention, since zigbee2mqtt has no areas; MQTT topics show it as folders)."""
    parts = [part.strip() for part in friendly_name.split("/") if part.strip()]
    if len(parts) > 1:
        return parts[0], parts[-1]
    return None, friendly_name


class Zigbee2MqttAdapter:
    """Devices of one zigbee2mqtt bridge, whose MQTT base topic is ``base``."""

    ecosystem: Ecosystem = "zigbee2mqtt"

    def __init__(self, base: str = "zigbee2mqtt") -> None:
        self.base = base.rstrip("/")
        self._known: set[str] = set()
        """Entity ids of the last devices list: a device missing from the next is removed."""

    def discovery_topics(self) -> list[str]:
        return [f"{self.base}/bridge/devices"]

    def is_discovery(self, topic: str) -> bool:
        return topic == f"{self.base}/bridge/devices"

    def parse_discovery(self, topic: str, payload: bytes) -> DiscoveryUpdate:
        if not self.is_discovery(topic):
            return DiscoveryUpdate()
        if not payload.strip():
            log.warning("ignoring %s: empty payload (the retained list was cleared)", topic)
            return DiscoveryUpdate()
        devices = decode_json(topic, payload)
        if not isinstance(devices, list):
            if devices is not None:
                log.warning("ignoring %s: not a list of devices", topic)
            return DiscoveryUpdate()
        entities: list[Entity] = []
        for device in devices:
            entities.extend(self._device_entities(topic, device))
        ids = {entity.id for entity in entities}
        removed = sorted(self._known - ids)
        self._known = ids
        return DiscoveryUpdate(entities=entities, removed=removed)

    def state_topics(self, entity: Entity) -> list[str]:
        native = entity.native
        return [t for t in (native.get("state_topic"), native.get("availability_topic")) if t]

    def parse_state(
        self, entity: Entity, topic: str, payload: bytes, now: datetime
    ) -> dict[str, Any] | None:
        native = entity.native
        if topic == native.get("availability_topic"):
            return _availability(topic, payload)
        if topic != native.get("state_topic"):
            return None
        data = decode_json(topic, payload)
        if not isinstance(data, dict):
            if data is not None:
                log.warning("ignoring %s: state is not a JSON object", topic)
            return None
        out: dict[str, Any] = {}
        for role, feature in native.get("roles", {}).items():
            if feature["property"] in data:
                _read_role(native["kind"], role, feature, data[feature["property"]], out)
        return out or None

    def render(self, entity: Entity, command: DeviceCommand) -> list[MqttMessage]:
        native = entity.native
        if command.action not in entity.actions or "set_topic" not in native:
            raise RenderError(f"{entity.id} does not support {command.action}")
        body = native.get("commands", {}).get(command.action)
        if body is None:
            make = VALUE_BODIES.get(command.action)
            if make is None:
                raise RenderError(f"zigbee2mqtt cannot render {command.action}")
            body = make(native["roles"], command)
        return [MqttMessage(topic=native["set_topic"], payload=json.dumps(body))]

    # -- discovery -----------------------------------------------------------------------

    def _device_entities(self, topic: str, device: Any) -> list[Entity]:
        if not isinstance(device, dict):
            log.warning("ignoring an entry of %s: not an object", topic)
            return []
        friendly_name, ieee = device.get("friendly_name"), device.get("ieee_address")
        if not isinstance(friendly_name, str) or not isinstance(ieee, str):
            log.warning("ignoring a device in %s: no friendly_name or ieee_address", topic)
            return []
        if device.get("type") == "Coordinator" or device.get("disabled") is True:
            return []
        definition = device.get("definition")
        if not isinstance(definition, dict):
            log.info("ignoring %s in %s: unsupported device (no definition)", friendly_name, topic)
            return []
        exposes = definition.get("exposes")
        if not isinstance(exposes, list):
            log.warning("ignoring %s in %s: definition has no exposes list", friendly_name, topic)
            return []
        where = f"{friendly_name} in {topic}"
        device_native = {
            "ieee": ieee,
            "friendly_name": friendly_name,
            "vendor": definition.get("vendor"),
            "model": definition.get("model"),
            "state_topic": f"{self.base}/{friendly_name}",
            "set_topic": f"{self.base}/{friendly_name}/set",
            "availability_topic": f"{self.base}/{friendly_name}/availability",
        }
        entities: list[Entity] = []
        for expose in exposes:
            try:
                entity = self._expose_entity(expose, device_native, where)
            except _ExposeError as error:
                log.warning("ignoring an expose of %s: %s", where, error)
                continue
            if entity is not None:
                if any(e.id == entity.id for e in entities):
                    entity.id = f"{entity.id}:{len(entities)}"
                entities.append(entity)
        return entities

    def _expose_entity(
        self, expose: Any, device_native: dict[str, Any], where: str
    ) -> Entity | None:
        if not isinstance(expose, dict):
            raise _ExposeError("not an object")
        area, name = _split_name(device_native["friendly_name"])
        ieee = device_native["ieee"]
        kind = expose.get("type")
        endpoint = expose.get("endpoint") if isinstance(expose.get("endpoint"), str) else None
        if isinstance(kind, str) and kind in SPECIFIC_TYPES:
            caps = _Capabilities()
            BUILDERS[kind](_features(expose, where), caps)
            if not caps.roles:
                raise _ExposeError(f"{kind} expose has no usable feature")
            suffix = f":{endpoint}" if endpoint else ""
            return self._entity(
                entity_id=f"zigbee2mqtt:{ieee}{suffix}",
                name=f"{name} {endpoint}" if endpoint else name,
                area=area,
                domain=SPECIFIC_TYPES[kind],
                device_class=None,
                native=device_native
                | {
                    "kind": kind,
                    "endpoint": endpoint,
                    "roles": caps.roles,
                    "commands": caps.commands,
                },
                caps=caps,
            )
        feature = _sensor_feature(expose)
        if feature is None:
            return None
        domain: Domain = "binary_sensor" if feature["type"] == "binary" else "sensor"
        classes = BINARY_CLASSES if domain == "binary_sensor" else SENSOR_CLASSES
        caps = _Capabilities()
        caps.roles["value"] = feature
        return self._entity(
            entity_id=f"zigbee2mqtt:{ieee}:{feature['property']}",
            name=f"{name} {feature['property'].replace('_', ' ')}",
            area=area,
            domain=domain,
            device_class=expose.get("name") if expose.get("name") in classes else None,
            native=device_native
            | {
                "kind": domain,
                "roles": caps.roles,
                "commands": {},
                "unit": feature.get("unit", ""),
            },
            caps=caps,
        )

    def _entity(
        self,
        *,
        entity_id: str,
        name: str,
        area: str | None,
        domain: Domain,
        device_class: str | None,
        native: dict[str, Any],
        caps: _Capabilities,
    ) -> Entity:
        spaced = name.replace("_", " ")
        return Entity(
            id=entity_id,
            name=name,
            aliases=[spaced] if spaced != name else [],
            area=area,
            domain=domain,
            device_class=device_class,
            ecosystem=self.ecosystem,
            actions=caps.actions,
            ranges=caps.ranges,
            options=caps.options,
            native=native,
        )
