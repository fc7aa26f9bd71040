"""Homie 5: entities from the retained ``homie/5/<device>/$description`` documents.

A description lists nodes and their typed properties. A node with a settable setpoint
becomes a climate entity; one with a settable on/off boolean, brightness or colour becomes
a light or a switch; read-only numbers, booleans and enums become sensors. Property values
arrive as plain payloads on ``homie/5/<device>/<node>/<property>`` and are set on
``.../<property>/set``; ``homie/5/<device>/$state`` says whether the device is ready, and an
empty ``$state`` or ``$description`` removes it.
"""

from __future__ import annotations

import colorsys
import logging
import math
import re
from dataclasses import dataclass
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
    kelvin_mired,
    to_percent,
)

log = logging.getLogger(__name__)

DATATYPES = frozenset(
    {"integer", "float", "boolean", "string", "enum", "color", "datetime", "duration", "json"}
)
NUMERIC = ("integer", "float")
READABLE = (*NUMERIC, "boolean", "enum")
"""Datatypes whose values become normalised state (a colour's value is not reported)."""
DEVICE_STATES = ("init", "ready", "disconnected", "sleeping", "lost", "alert")
COLOR_FORMATS = ("rgb", "hsv", "xyz")

POWER_IDS = ("state", "on", "power", "switch", "onoff", "on-off", "enabled")
BRIGHTNESS_IDS = ("brightness", "dimmer", "dim", "intensity", "level")
COLOR_TEMP_IDS = ("color-temperature", "colour-temperature", "color-temp", "colour-temp", "ct")
SETPOINT_IDS = ("target-temperature", "target-temp", "setpoint", "set-temperature")
CURRENT_TEMPERATURE_IDS = (
    "temperature", "current-temperature", "actual-temperature", "measured-temperature",
    "room-temperature",
)  # fmt: skip
MODE_IDS = ("mode", "hvac-mode", "system-mode", "operating-mode")
MIRED_UNITS = ("MK⁻¹", "mired", "mireds")
LIGHT_WORDS = re.compile(r"light|lamp|bulb|\bled\b")
SENSOR_CLASSES = frozenset(
    {
        "temperature", "humidity", "pressure", "illuminance", "battery", "power", "energy",
        "voltage", "current", "co2", "contact", "motion", "occupancy", "smoke", "leak",
    }
)  # fmt: skip
DEFAULT_SETPOINT = (5.0, 35.0)  # °C, when the format leaves the setpoint open-ended
DEFAULT_TEMPERATURE_STEP = 0.5
PERCENT = Range(min=0, max=100, step=1, unit="%")


class _FormatError(ValueError):
    """A property whose description does not follow the convention."""


def _numeric_format(text: Any) -> tuple[float | None, float | None, float | None]:
    """``[min]:[max][:step]``, each part optional (open-ended)."""
    if text is None or text == "":
        return None, None, None
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) not in (2, 3):
        raise _FormatError(f"format {text!r} is not [min]:[max][:step]")
    try:
        low, high, *rest = (float(part) if part.strip() else None for part in parts)
    except ValueError:
        raise _FormatError(f"format {text!r} has a part that is not a number") from None
    step = rest[0] if rest else None
    if low is not None and high is not None and low > high:
        raise _FormatError(f"format {text!r} has min > max")
    if step is not None and step <= 0:
        raise _FormatError(f"format {text!r} has a step that is not positive")
    return low, high, step


def _parse_property(prop_id: str, raw: Any) -> dict[str, Any]:
    """The checked description of one property, with its format unpacked."""
    if not isinstance(raw, dict):
        raise _FormatError("not an object")
    datatype = raw.get("datatype")
    if datatype not in DATATYPES:
        raise _FormatError(f"unknown datatype {datatype!r}")
    name, unit, fmt = raw.get("name"), raw.get("unit"), raw.get("format")
    prop: dict[str, Any] = {
        "id": prop_id,
        "name": name if isinstance(name, str) and name else prop_id.replace("-", " "),
        "datatype": datatype,
        "settable": raw.get("settable") is True,
        "retained": raw.get("retained") is not False,
        "unit": unit if isinstance(unit, str) else "",
    }
    if datatype in NUMERIC:
        prop["min"], prop["max"], prop["step"] = _numeric_format(fmt)
    elif datatype in ("enum", "boolean", "color"):
        values = fmt.split(",") if isinstance(fmt, str) and fmt else []
        if datatype == "enum" and not values:
            raise _FormatError("enum without a format listing its values")
        if datatype == "color":
            values = [v for v in values if v in COLOR_FORMATS]
            if not values:
                raise _FormatError(f"color format {fmt!r} names none of rgb, hsv, xyz")
        prop["values"] = values  # for booleans: the words for false and true
    return prop


def _parse_node(node: Any, where: str) -> tuple[str | None, str, dict[str, dict[str, Any]]]:
    """(explicit name, type, properties by id) of a node; broken properties are left out."""
    if not isinstance(node, dict):
        raise _FormatError("node is not an object")
    raw_props = node.get("properties", {})
    if not isinstance(raw_props, dict):
        raise _FormatError("properties is not an object")
    props: dict[str, dict[str, Any]] = {}
    for prop_id, raw in raw_props.items():
        try:
            props[prop_id] = _parse_property(prop_id, raw)
        except _FormatError as error:
            log.warning("ignoring property %s of %s: %s", prop_id, where, error)
    name, kind = node.get("name"), node.get("type")
    return (
        name if isinstance(name, str) and name else None,
        kind if isinstance(kind, str) else "",
        props,
    )


def _first(
    props: dict[str, dict[str, Any]], ids: tuple[str, ...], datatypes: tuple[str, ...]
) -> dict[str, Any] | None:
    """The first settable, retained property with one of ``ids`` (in order) and a datatype."""
    for prop_id in ids:
        prop = props.get(prop_id)
        if prop and prop["settable"] and prop["retained"] and prop["datatype"] in datatypes:
            return prop
    return None


def _closed(prop: dict[str, Any] | None) -> dict[str, Any] | None:
    """``prop`` when its format bounds both ends (needed to scale percent onto it)."""
    if prop is None:
        return None
    if prop["min"] is None or prop["max"] is None:
        if prop["unit"] != "%":
            return None
        prop = prop | {
            "min": prop["min"] or 0.0,
            "max": 100.0 if prop["max"] is None else prop["max"],
        }
    return prop if prop["max"] > prop["min"] else None


class _Roles:
    """The properties one entity reads and sets, and what that lets it do."""

    def __init__(self) -> None:
        self.props: dict[str, dict[str, Any]] = {}
        self.actions: list[Action] = []
        self.ranges: dict[str, Range] = {}
        self.options: dict[str, list[str]] = {}

    def add(self, role: str, prop: dict[str, Any] | None, *actions: Action) -> bool:
        if prop is None:
            return False
        self.props[role] = prop
        self.actions.extend(actions)
        return True


def _climate_roles(props: dict[str, dict[str, Any]]) -> _Roles | None:
    setpoint = _first(props, SETPOINT_IDS, NUMERIC) or next(
        (
            p
            for p in props.values()
            if "setpoint" in p["id"] and p["settable"] and p["datatype"] in NUMERIC
        ),
        None,
    )
    if setpoint is None:
        return None
    roles = _Roles()
    roles.add("setpoint", setpoint, "set_temperature")
    roles.ranges["set_temperature"] = Range(
        min=DEFAULT_SETPOINT[0] if setpoint["min"] is None else setpoint["min"],
        max=DEFAULT_SETPOINT[1] if setpoint["max"] is None else setpoint["max"],
        step=setpoint["step"] or DEFAULT_TEMPERATURE_STEP,
        unit=setpoint["unit"] or "°C",
    )
    current = next(
        (
            props[i]
            for i in CURRENT_TEMPERATURE_IDS
            if i in props and not props[i]["settable"] and props[i]["datatype"] in NUMERIC
        ),
        None,
    )
    roles.add("current", current)
    mode = _first(props, MODE_IDS, ("enum",))
    if roles.add("mode", mode, "set_hvac_mode") and mode is not None:
        roles.options["set_hvac_mode"] = list(mode["values"])
    power = _first(props, POWER_IDS, ("boolean",))
    if power is not None:
        roles.add("power", power, "turn_on", "turn_off")
    elif mode is not None and "off" in mode["values"]:
        roles.actions.append("turn_off")
    return roles


def _light_roles(props: dict[str, dict[str, Any]]) -> _Roles | None:
    roles = _Roles()
    power = _first(props, POWER_IDS, ("boolean",)) or next(
        (
            p
            for p in props.values()
            if p["datatype"] == "boolean" and p["settable"] and p["retained"]
        ),
        None,
    )
    roles.add("power", power, "turn_on", "turn_off")
    if roles.add("brightness", _closed(_first(props, BRIGHTNESS_IDS, NUMERIC)), "set_brightness"):
        roles.ranges["set_brightness"] = PERCENT
    color = next((p for p in props.values() if p["datatype"] == "color" and p["settable"]), None)
    if roles.add("color", color, "set_color"):
        roles.options["set_color"] = list(COLOR_OPTIONS)
    color_temp = _closed(_first(props, COLOR_TEMP_IDS, NUMERIC))
    if color_temp is not None and color_temp["min"] > 0:
        roles.add("color_temp", color_temp, "set_color_temp")
        kelvin = (color_temp["min"], color_temp["max"])
        if _is_mired(color_temp):
            kelvin = (kelvin_mired(color_temp["max"]), kelvin_mired(color_temp["min"]))
        roles.ranges["set_color_temp"] = Range(min=round(kelvin[0]), max=round(kelvin[1]), unit="K")
    return roles if roles.props else None


def _is_mired(prop: dict[str, Any]) -> bool:
    # Without a unit, a colour temperature above 1000 can only be kelvin.
    return bool(prop["unit"] in MIRED_UNITS or (prop["unit"] != "K" and prop["max"] <= 1000))


def _snap(value: float, prop: dict[str, Any]) -> float:
    """``value`` rounded to the property's step and kept inside its format, as the
    convention asks (step based at min, else max; bounds checked after rounding)."""
    low, high, step = prop["min"], prop["max"], prop["step"]
    if prop["datatype"] == "integer" and not step:
        step = 1.0
    if step:
        base = low if low is not None else (high if high is not None else 0.0)
        value = base + half_up((value - base) / step) * step
        if high is not None and value > high:
            value -= math.ceil(round((value - high) / step, 9)) * step
        if low is not None and value < low:
            value += math.ceil(round((low - value) / step, 9)) * step
    if low is not None:
        value = max(low, value)
    if high is not None:
        value = min(high, value)
    return value


def _format_number(value: float, prop: dict[str, Any]) -> str:
    if prop["datatype"] == "integer":
        return str(half_up(value))
    # Homie floats allow no "+" and plain decimals read best: no exponent notation.
    text = f"{round(value, 6):f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _color_payload(prop: dict[str, Any], value: float | str | None) -> str:
    red, green, blue = color_rgb(value)
    kind = prop["values"][0]  # the device lists its formats most preferred first
    if kind == "rgb":
        return f"rgb,{red},{green},{blue}"
    if kind == "hsv":
        hue, saturation, brightness = colorsys.rgb_to_hsv(red / 255, green / 255, blue / 255)
        return f"hsv,{round(hue * 360)},{round(saturation * 100)},{round(brightness * 100)}"
    x, y = _rgb_to_xy(red, green, blue)
    return f"xyz,{x:.4f},{y:.4f}"


def _rgb_to_xy(red: int, green: int, blue: int) -> tuple[float, float]:
    """CIE 1931 chromaticity of an sRGB colour."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = linear(red), linear(green), linear(blue)
    big_x = 0.4124 * r + 0.3576 * g + 0.1805 * b
    big_y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    big_z = 0.0193 * r + 0.1192 * g + 0.9505 * b
    total = big_x + big_y + big_z
    return (0.3127, 0.3290) if total == 0 else (big_x / total, big_y / total)


def _decode(prop: dict[str, Any], text: str) -> Any:
    """The value of a property payload, or None when it is not valid for the datatype."""
    datatype = prop["datatype"]
    if datatype == "boolean":
        return {"true": True, "false": False}.get(text)
    if datatype in NUMERIC:
        try:
            number = int(text) if datatype == "integer" else float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    if datatype == "enum":
        return text if text in prop["values"] else None
    return None


STATE_KEYS = {
    "power": "on",
    "setpoint": "temperature",
    "current": "current_temperature",
    "mode": "hvac_mode",
}
"""Roles whose value is the normalised state as it is."""


def _read(role: str, prop: dict[str, Any], value: Any) -> dict[str, Any]:
    """The normalised state a property value gives, by the role it plays."""
    if role in STATE_KEYS:
        return {STATE_KEYS[role]: value}
    if role == "brightness":
        return {"brightness": to_percent(value, prop["min"], prop["max"])}
    if role == "color_temp":
        return (
            {"color_temp": round(kelvin_mired(value) if _is_mired(prop) else value)}
            if value > 0
            else {}
        )
    if role == "value" and prop["datatype"] == "boolean":
        # A boolean formatted "closed,open" says whether something is open.
        opens = len(prop["values"]) == 2 and prop["values"][1] in ("open", "opened")
        return {"on": value, "open": value} if opens else {"on": value}
    return {"value": value}


def _payload(roles: dict[str, dict[str, Any]], command: DeviceCommand) -> tuple[str, str]:
    """The role whose property carries ``command`` and the payload to set it to."""
    action = command.action
    if action in ("turn_on", "turn_off"):
        if "power" in roles:
            return "power", "true" if action == "turn_on" else "false"
        return "mode", "off"  # a climate node without a power switch turns off by mode
    if action == "set_hvac_mode":
        if command.value not in roles["mode"]["values"]:
            raise RenderError(f"mode {command.value!r} is not one of {roles['mode']['values']}")
        return "mode", str(command.value)
    if action == "set_color":
        return "color", _color_payload(roles["color"], command.value)
    return _number_payload(roles, command)


NUMBER_ROLES = {
    "set_brightness": "brightness",
    "set_color_temp": "color_temp",
    "set_temperature": "setpoint",
}


def _number_payload(roles: dict[str, dict[str, Any]], command: DeviceCommand) -> tuple[str, str]:
    role = NUMBER_ROLES.get(command.action)
    if role is None:
        raise RenderError(f"Homie cannot render {command.action}")
    prop, value = roles[role], command_number(command)
    if role == "brightness":
        value = from_percent(value, prop["min"], prop["max"])
    elif role == "color_temp":
        if value <= 0:
            raise RenderError(f"colour temperature {value} K is not positive")
        value = kelvin_mired(value) if _is_mired(prop) else value
    return role, _format_number(_snap(value, prop), prop)


@dataclass(frozen=True)
class _Node:
    """Where an entity comes from and what it is called."""

    device: str
    node: str
    type: str
    name: str
    aliases: list[str]


class HomieAdapter:
    """Homie 5 devices under the domain ``root`` (``homie/5/...``)."""

    ecosystem: Ecosystem = "homie"

    def __init__(self, root: str = "homie") -> None:
        self.root = root.strip("/")
        self._ids: dict[str, set[str]] = {}
        """Device id -> ids of its entities, for removal."""
        self._states: dict[str, str] = {}
        """Device id -> its last ``$state``, for entities described after it arrived."""
        self._roots: dict[str, str] = {}
        """Child device id -> its root device id (a lost root takes its children along)."""

    def discovery_topics(self) -> list[str]:
        # $state too: an empty $state is how the convention removes a device.
        return [f"{self.root}/5/+/$description", f"{self.root}/5/+/$state"]

    def _device_attribute(self, topic: str) -> tuple[str, str] | None:
        parts = topic.split("/")
        if (
            len(parts) == 4
            and parts[0] == self.root
            and parts[1] == "5"
            and parts[2]
            and parts[3] in ("$description", "$state")
        ):
            return parts[2], parts[3]
        return None

    def is_discovery(self, topic: str) -> bool:
        return self._device_attribute(topic) is not None

    def parse_discovery(self, topic: str, payload: bytes) -> DiscoveryUpdate:
        attribute = self._device_attribute(topic)
        if attribute is None:
            return DiscoveryUpdate()
        device_id, name = attribute
        if not payload.strip():
            return self._remove(device_id)
        if name == "$state":
            return self._state_update(topic, device_id, payload)
        entities = self._describe(topic, device_id, payload)
        if entities is None:
            return DiscoveryUpdate()
        ids = {entity.id for entity in entities}
        removed = sorted(self._ids.get(device_id, set()) - ids)
        self._ids[device_id] = ids
        return DiscoveryUpdate(entities=entities, removed=removed)

    def _remove(self, device_id: str) -> DiscoveryUpdate:
        self._states.pop(device_id, None)
        self._roots.pop(device_id, None)
        return DiscoveryUpdate(removed=sorted(self._ids.pop(device_id, set())))

    def _state_update(self, topic: str, device_id: str, payload: bytes) -> DiscoveryUpdate:
        state = payload.decode("utf-8", errors="replace").strip()
        if state not in DEVICE_STATES:
            log.warning("ignoring %s: unknown device state %r", topic, state[:40])
            return DiscoveryUpdate()
        self._states[device_id] = state
        availability = dict.fromkeys(self._ids.get(device_id, ()), state == "ready")
        for child, root in self._roots.items():
            if root == device_id:
                child_ready = state != "lost" and self._states.get(child) == "ready"
                availability |= dict.fromkeys(self._ids.get(child, ()), child_ready)
        return DiscoveryUpdate(availability=availability)

    def _available(self, device_id: str) -> bool | None:
        root = self._roots.get(device_id)
        if root is not None and self._states.get(root) == "lost":
            return False
        state = self._states.get(device_id)
        return None if state is None else state == "ready"

    # -- description ---------------------------------------------------------------------

    def _describe(self, topic: str, device_id: str, payload: bytes) -> list[Entity] | None:
        data = decode_json(topic, payload)
        if data is None:
            return None
        if not isinstance(data, dict) or not str(data.get("homie", "")).startswith("5"):
            log.warning("ignoring %s: not a Homie 5 description", topic)
            return None
        nodes = data.get("nodes", {})
        if not isinstance(nodes, dict):
            log.warning("ignoring %s: nodes is not an object", topic)
            return None
        name = data.get("name")
        device_name = name if isinstance(name, str) and name else device_id
        root = data.get("root")
        if isinstance(root, str) and root:
            self._roots[device_id] = root
        else:
            self._roots.pop(device_id, None)
        entities: list[Entity] = []
        for node_id, node in nodes.items():
            where = f"node {node_id} in {topic}"
            try:
                node_name, node_type, props = _parse_node(node, where)
            except _FormatError as error:
                log.warning("ignoring %s: %s", where, error)
                continue
            several = len(nodes) > 1
            base = self._base_name(device_name, node_id, node_name, several=several)
            # One node: its own name is a second way to call it (several: the device's name
            # would be shared by all of them, so it names none).
            aliases = [node_name] if node_name and not several and node_name != base else []
            context = _Node(device_id, node_id, node_type, base, aliases)
            entities.extend(self._node_entities(context, props))
        return entities

    @staticmethod
    def _base_name(device: str, node_id: str, node_name: str | None, *, several: bool) -> str:
        """One node: the device's name reads best. Several: each node's own name."""
        if not several:
            return device
        return node_name or f"{device} {node_id.replace('-', ' ')}"

    def _node_entities(self, node: _Node, props: dict[str, dict[str, Any]]) -> list[Entity]:
        entities: list[Entity] = []
        used: set[str] = set()
        climate = _climate_roles(props)
        main = climate or _light_roles(props)
        if main is not None:
            domain: Domain = "climate" if climate else self._light_or_switch(node, main)
            entities.append(
                self._entity(
                    node,
                    f"homie:{node.device}/{node.node}",
                    node.name,
                    domain,
                    main,
                    aliases=node.aliases,
                )
            )
            used = {prop["id"] for prop in main.props.values()}
        for prop in props.values():
            if prop["id"] in used or prop["settable"] or not prop["retained"]:
                continue  # settable extras are settings; non-retained ones are events
            if prop["datatype"] not in READABLE:
                continue
            entities.append(self._sensor(node, prop))
        return entities

    @staticmethod
    def _light_or_switch(node: _Node, roles: _Roles) -> Domain:
        words = f"{node.type} {node.name} {node.node}".lower()
        dimmable = roles.props.keys() & {"brightness", "color", "color_temp"}
        return "light" if dimmable or LIGHT_WORDS.search(words) else "switch"

    def _sensor(self, node: _Node, prop: dict[str, Any]) -> Entity:
        roles = _Roles()
        roles.add("value", prop)
        label = prop["name"]
        name = node.name if label.lower() in node.name.lower() else f"{node.name} {label}"
        return self._entity(
            node,
            f"homie:{node.device}/{node.node}/{prop['id']}",
            name,
            "binary_sensor" if prop["datatype"] == "boolean" else "sensor",
            roles,
            device_class=prop["id"] if prop["id"] in SENSOR_CLASSES else None,
            unit=prop["unit"],
        )

    def _entity(
        self,
        node: _Node,
        entity_id: str,
        name: str,
        domain: Domain,
        roles: _Roles,
        *,
        aliases: list[str] | None = None,
        device_class: str | None = None,
        unit: str = "",
    ) -> Entity:
        prefix = f"{self.root}/5/{node.device}"
        topics = {
            f"{prefix}/{node.node}/{p['id']}": role
            for role, p in roles.props.items()
            if p["datatype"] in READABLE
        }
        return Entity(
            id=entity_id,
            name=name,
            aliases=aliases or [],
            domain=domain,
            device_class=device_class,
            ecosystem=self.ecosystem,
            actions=roles.actions,
            ranges=roles.ranges,
            options=roles.options,
            native={
                "device": node.device,
                "node": node.node,
                "state_topic": f"{prefix}/$state",
                "root_state_topic": (
                    f"{self.root}/5/{self._roots[node.device]}/$state"
                    if node.device in self._roots
                    else None
                ),
                "roles": roles.props,
                "topics": topics,
                "unit": unit,
            },
            available=self._available(node.device),
        )

    # -- state ---------------------------------------------------------------------------

    def state_topics(self, entity: Entity) -> list[str]:
        native = entity.native
        topics = [
            *native.get("topics", {}),
            native.get("state_topic"),
            native.get("root_state_topic"),
        ]
        return [topic for topic in topics if topic]

    def parse_state(
        self, entity: Entity, topic: str, payload: bytes, now: datetime
    ) -> dict[str, Any] | None:
        native = entity.native
        text = payload.decode("utf-8", errors="replace")
        if topic in (native.get("state_topic"), native.get("root_state_topic")):
            return self._parse_device_state(native, topic, text.strip())
        role = native.get("topics", {}).get(topic)
        if role is None:
            return None
        prop = native["roles"][role]
        value = _decode(prop, text)
        if value is None:
            log.warning("ignoring %s: %r is not a valid %s", topic, text[:40], prop["datatype"])
            return None
        return _read(role, prop, value) or None

    def _parse_device_state(
        self, native: dict[str, Any], topic: str, state: str
    ) -> dict[str, Any] | None:
        if state not in DEVICE_STATES:
            if state:
                log.warning("ignoring %s: unknown device state %r", topic, state[:40])
            return None
        if topic == native.get("root_state_topic"):
            if state == "lost":
                return {"available": False}
            own = self._states.get(native["device"])
            return None if own is None else {"available": own == "ready"}
        self._states[native["device"]] = state
        return {"available": state == "ready"}

    # -- commands ------------------------------------------------------------------------

    def render(self, entity: Entity, command: DeviceCommand) -> list[MqttMessage]:
        native = entity.native
        if command.action not in entity.actions or "roles" not in native:
            raise RenderError(f"{entity.id} does not support {command.action}")
        role, payload = _payload(native["roles"], command)
        prop = native["roles"][role]
        topic = f"{self.root}/5/{native['device']}/{native['node']}/{prop['id']}/set"
        return [MqttMessage(topic=topic, payload=payload)]
