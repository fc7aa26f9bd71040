"""Home Assistant MQTT discovery: entities announced on
``<prefix>/<component>/[<node_id>/]<object_id>/config`` and, several at once, on
``<prefix>/device/[<node_id>/]<object_id>/config``.

Configs are read the way Home Assistant reads them: abbreviated keys expanded
(:data:`ABBREVIATIONS`), ``~`` replaced at the start or end of ``*_topic`` values, a device
config's shared options inherited by components that lack them, an empty payload removing what
the topic described. Templates are Jinja, run in a sandbox with only the variables MQTT gives
them (``value``, ``value_json``, ``red``, ``position``...); a template that needs Home Assistant
itself (``states()``, ``now()``) or does not compile costs the topic it serves, with a warning.

Names follow Home Assistant's friendly names, ``"<device name> <entity name>"`` unless the
entity name already starts with the device name, with the bare entity name as an alias; an
entity whose ``name`` is null is named after its device.

Not supported: the ``template`` light schema, tilt, effects, presets, fan and swing modes, dual
setpoints, ``availability_mode`` all/any (the latest availability message wins), the config's
qos and retain (commands are QoS 1 and never retained, see :class:`MqttMessage`).
"""

from __future__ import annotations

import colorsys
import contextlib
import copy
import json
import logging
import math
import re
from collections.abc import Callable, Collection
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from edge_agent.devices.adapter import (
    DeviceCommand,
    DiscoveryUpdate,
    MqttMessage,
    RenderError,
    decode_json,
    json_object,
)
from edge_agent.devices.model import ACTIONS, DOMAINS, Action, Ecosystem, Entity, Range
from edge_agent.devices.values import COLOR_NAMES, color_rgb

log = logging.getLogger(__name__)

_ABBREVIATION_TABLE = """
avty availability                      avty_mode availability_mode
avty_t availability_topic              avty_tpl availability_template
bri_cmd_t brightness_command_topic     bri_cmd_tpl brightness_command_template
bri_scl brightness_scale               bri_stat_t brightness_state_topic
bri_val_tpl brightness_value_template  clr_temp_k color_temp_kelvin
clr_temp_cmd_t color_temp_command_topic
clr_temp_cmd_tpl color_temp_command_template
clr_temp_stat_t color_temp_state_topic clr_temp_val_tpl color_temp_value_template
cmd_t command_topic                    cmd_tpl command_template
cmps components                        curr_temp_t current_temperature_topic
curr_temp_tpl current_temperature_template
dev device                             dev_cla device_class
e encoding                             ent_cat entity_category
hs_cmd_t hs_command_topic              hs_cmd_tpl hs_command_template
ic icon                                json_attr_t json_attributes_topic
max_k max_kelvin                       min_k min_kelvin
max_mirs max_mireds                    min_mirs min_mireds
mode_cmd_t mode_command_topic          mode_cmd_tpl mode_command_template
mode_stat_t mode_state_topic           mode_stat_tpl mode_state_template
o origin                               obj_id object_id
on_cmd_type on_command_type            opt optimistic
p platform                             pct_cmd_t percentage_command_topic
pct_cmd_tpl percentage_command_template
pct_stat_t percentage_state_topic      pct_val_tpl percentage_value_template
pl_avail payload_available             pl_not_avail payload_not_available
pl_cls payload_close                   pl_lock payload_lock
pl_off payload_off                     pl_on payload_on
pl_open payload_open                   pl_prs payload_press
pl_stop payload_stop                   pl_unlk payload_unlock
pos reports_position                   pos_clsd position_closed
pos_open position_open                 pos_t position_topic
pos_tpl position_template              pow_cmd_t power_command_topic
pow_cmd_tpl power_command_template     ret retain
rgb_cmd_t rgb_command_topic            rgb_cmd_tpl rgb_command_template
rgb_stat_t rgb_state_topic             set_pos_t set_position_topic
set_pos_tpl set_position_template      spd_rng_max speed_range_max
spd_rng_min speed_range_min            stat_cla state_class
stat_closing state_closing             stat_clsd state_closed
stat_jam state_jammed                  stat_locked state_locked
stat_locking state_locking             stat_off state_off
stat_on state_on                       stat_open state_open
stat_opening state_opening             stat_stopped state_stopped
stat_t state_topic                     stat_unlocked state_unlocked
stat_unlocking state_unlocking         stat_val_tpl state_value_template
sup_clrm supported_color_modes         t topic
temp_cmd_t temperature_command_topic   temp_cmd_tpl temperature_command_template
temp_stat_t temperature_state_topic    temp_stat_tpl temperature_state_template
temp_unit temperature_unit             uniq_id unique_id
unit_of_meas unit_of_measurement       val_tpl value_template
xy_cmd_t xy_command_topic              xy_cmd_tpl xy_command_template
"""
_WORDS = _ABBREVIATION_TABLE.split()
ABBREVIATIONS: dict[str, str] = dict(zip(_WORDS[::2], _WORDS[1::2], strict=True))
"""Home Assistant's discovery abbreviations for the keys of the components supported here."""
DEVICE_ABBREVIATIONS: dict[str, str] = {
    "ids": "identifiers", "cns": "connections", "mf": "manufacturer", "mdl": "model",
    "mdl_id": "model_id", "sw": "sw_version", "hw": "hw_version", "sn": "serial_number",
    "sa": "suggested_area", "cu": "configuration_url",
}  # fmt: skip
SHARED_OPTIONS = (
    "availability", "availability_mode", "availability_template", "availability_topic",
    "command_topic", "payload_available", "payload_not_available", "state_topic", "~",
)  # fmt: skip
"""What components inherit from their device config (``~`` too: Home Assistant does not)."""

_ON_OFF = {"payload_on": "ON", "payload_off": "OFF"}
_OPEN_CLOSE = {
    "payload_open": "OPEN", "payload_close": "CLOSE", "state_open": "open",
    "state_closed": "closed", "state_opening": "opening", "state_closing": "closing",
    "position_open": 100, "position_closed": 0,
}  # fmt: skip
DEFAULTS: dict[str, dict[str, Any]] = {
    "light": {**_ON_OFF, "brightness_scale": 255, "on_command_type": "last", "schema": "basic"},
    "switch": _ON_OFF,
    "fan": {**_ON_OFF, "speed_range_min": 1, "speed_range_max": 100},
    "cover": {**_OPEN_CLOSE, "payload_stop": "STOP"},
    "lock": {"payload_lock": "LOCK", "payload_unlock": "UNLOCK", "state_locked": "LOCKED",
             "state_unlocked": "UNLOCKED", "state_open": "OPEN"},
    "valve": {**_OPEN_CLOSE, "reports_position": False},
    "climate": {**_ON_OFF, "modes": ["auto", "off", "cool", "heat", "dry", "fan_only"]},
    "binary_sensor": _ON_OFF,
    "button": {"payload_press": "PRESS"},
    "scene": {"payload_on": "ON"},
}  # fmt: skip
REQUIRED: dict[str, str] = {
    "light": "command_topic", "switch": "command_topic", "fan": "command_topic",
    "lock": "command_topic", "button": "command_topic", "scene": "command_topic",
    "sensor": "state_topic", "binary_sensor": "state_topic",
}  # fmt: skip
TEMPLATE_TOPICS: dict[str, str] = {
    "command_template": "command_topic",
    "brightness_command_template": "brightness_command_topic",
    "color_temp_command_template": "color_temp_command_topic",
    "rgb_command_template": "rgb_command_topic",
    "hs_command_template": "hs_command_topic",
    "xy_command_template": "xy_command_topic",
    "percentage_command_template": "percentage_command_topic",
    "set_position_template": "set_position_topic",
    "temperature_command_template": "temperature_command_topic",
    "mode_command_template": "mode_command_topic",
    "power_command_template": "power_command_topic",
    "value_template": "state_topic",
    "state_value_template": "state_topic",
    "brightness_value_template": "brightness_state_topic",
    "percentage_value_template": "percentage_state_topic",
    "position_template": "position_topic",
    "temperature_state_template": "temperature_state_topic",
    "current_temperature_template": "current_temperature_topic",
    "mode_state_template": "mode_state_topic",
}
"""The templates evaluated here and the topic each serves: one we cannot run drops its topic."""

DEFAULT_KELVIN = (2000, 6535)  # Home Assistant's colour temperature range when none is given

_TEMPLATE_VARIABLES = frozenset(
    {"value", "value_json", "red", "green", "blue", "hue", "sat", "x", "y", "position",
     "position_open", "position_closed"}
)  # fmt: skip
_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_ENV.filters.update(from_json=json.loads, to_json=json.dumps)


class InvalidConfigError(ValueError):
    """A discovery config that Home Assistant itself would reject."""


@lru_cache(maxsize=512)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


def _template_problem(source: object) -> str | None:
    """Why ``source`` cannot be evaluated here, or None."""
    if not isinstance(source, str):
        return "it is not a string"
    try:
        unknown = meta.find_undeclared_variables(_ENV.parse(source))
        _compile(source)  # unknown filters and tests fail here, not when parsing
    except TemplateError as error:
        return f"it does not compile ({error})"
    unknown -= _TEMPLATE_VARIABLES | set(_ENV.globals)
    return f"it needs {', '.join(sorted(unknown))} from Home Assistant" if unknown else None


def _apply_value_template(source: object, text: str) -> str | None:
    """What a state payload says once through its template; None when the template fails."""
    if not isinstance(source, str) or not source:
        return text
    variables: dict[str, Any] = {"value": text}
    with contextlib.suppress(ValueError):  # a template that reads value_json then fails below
        variables["value_json"] = json.loads(text)
    try:
        return _compile(source).render(variables).strip()
    except Exception:  # a device's template must never break state reading
        return None


class HomeAssistantAdapter:
    """Entities, state and commands for devices that announce themselves the HA MQTT way."""

    ecosystem: Ecosystem = "homeassistant"

    def __init__(self, prefix: str = "homeassistant") -> None:
        self.prefix = prefix
        self._topic_re = re.compile(
            re.escape(prefix) + r"/(\w+)/(?:([a-zA-Z0-9_-]+)/)?([a-zA-Z0-9_-]+)/config"
        )
        # The discovery topic that made each entity: an empty payload, or a component dropped
        # from a device config, names only the topic.
        self._owner: dict[str, str] = {}

    def discovery_topics(self) -> list[str]:
        return [f"{self.prefix}/+/+/config", f"{self.prefix}/+/+/+/config"]

    def is_discovery(self, topic: str) -> bool:
        return self._topic_re.fullmatch(topic) is not None

    def parse_discovery(self, topic: str, payload: bytes) -> DiscoveryUpdate:
        match = self._topic_re.fullmatch(topic)
        if match is None:
            log.warning("ignoring %s: not a Home Assistant discovery topic", topic)
            return DiscoveryUpdate()
        component, node_id, object_id = match.groups()
        fallback = f"{node_id}_{object_id}" if node_id else object_id
        if not payload.strip():
            own_id = [] if component == "device" else [f"homeassistant:{component}.{fallback}"]
            return self._forget(topic, own_id)
        data = decode_json(topic, payload)
        if not isinstance(data, dict):
            if data is not None:
                log.warning("ignoring %s: the config is not a JSON object", topic)
            return DiscoveryUpdate()
        _expand(data)
        if component == "device":
            parts = _device_parts(topic, data, fallback)
        else:
            parts = [(component, fallback, object_id, data)]
        entities: list[Entity] = []
        kept: set[str] = set()  # a broken update keeps the entity it would have replaced
        for part, part_fallback, label, config in parts:
            try:
                entities.append(_entity(part, part_fallback, label, config))
            except InvalidConfigError as error:
                log.warning("ignoring %s (%s %s): %s", topic, part, label, error)
                kept.add(_entity_id(part, config, part_fallback))
        if component != "device" and not entities:
            return DiscoveryUpdate()
        return self._remember(topic, entities, kept)

    def state_topics(self, entity: Entity) -> list[str]:
        return state_topics(entity)

    def parse_state(
        self, entity: Entity, topic: str, payload: bytes, now: datetime
    ) -> dict[str, Any] | None:
        native = entity.native
        try:
            text = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            return None
        fields: dict[str, Any] = {}
        for entry in native.get("availability", ()):
            if entry["topic"] != topic:
                continue
            word = _apply_value_template(entry["value_template"], text)
            if word in (entry["online"], entry["offline"]):
                fields["available"] = word == entry["online"]
        for topic_key, template_key, reader in _READERS.get(_kind(native), ()):
            if native.get(topic_key) == topic:
                value = _apply_value_template(native.get(template_key), text)
                fields.update((reader(native, value) if value else None) or {})
        return fields or None

    def render(self, entity: Entity, command: DeviceCommand) -> list[MqttMessage]:
        action, value = command.action, command.value
        if not entity.supports(action):
            raise RenderError(f"{entity.id} cannot {action}")
        if action == "toggle":  # Home Assistant's MQTT entities have no toggle payload
            if entity.state.get("on") is None:
                raise RenderError(f"{entity.id} cannot toggle: its on/off state is unknown")
            action = "turn_off" if entity.state["on"] else "turn_on"
        if action in entity.ranges:
            value = entity.ranges[action].clamp(_number(action, value))
            if value == 0 and action in ("set_brightness", "set_fan_percentage"):
                action = "turn_off"  # as Home Assistant does: 0 % is off
        return _RENDERERS[_kind(entity.native)](entity, action, value)

    def _remember(self, topic: str, entities: list[Entity], kept: set[str]) -> DiscoveryUpdate:
        ids = {entity.id for entity in entities} | kept
        update = self._forget(topic, [], keep=ids)
        self._owner.update((entity.id, topic) for entity in entities)
        update.entities = entities
        return update

    def _forget(self, topic: str, own_id: list[str], keep: Collection[str] = ()) -> DiscoveryUpdate:
        removed = [i for i, owner in self._owner.items() if owner == topic and i not in keep]
        for entity_id in removed:
            del self._owner[entity_id]
        # A config retained before we started is removed under the only id we can know.
        return DiscoveryUpdate(removed=removed or own_id)


def state_topics(entity: Entity) -> list[str]:
    """The state and availability topics of an entity made here, each once."""
    native = entity.native
    topics = [native.get(key) for key, _, _ in _READERS.get(_kind(native), ())]
    topics += [entry["topic"] for entry in native.get("availability", ())]
    return list(dict.fromkeys(t for t in topics if isinstance(t, str) and t))


# --- discovery ------------------------------------------------------------------------------


def _rename(data: object, table: dict[str, str]) -> None:
    if isinstance(data, dict):
        for key in [k for k in data if k in table]:
            data[table[key]] = data.pop(key)


def _expand(data: dict[str, Any]) -> None:
    """Abbreviated keys to full ones, at every level Home Assistant expands them."""
    _rename(data, ABBREVIATIONS)
    entries = data.get("availability")
    for entry in entries if isinstance(entries, list) else [entries]:
        _rename(entry, ABBREVIATIONS)
    _rename(data.get("device"), DEVICE_ABBREVIATIONS)
    components = data.get("components")
    for config in components.values() if isinstance(components, dict) else ():
        if isinstance(config, dict):
            _expand(config)


def _device_parts(
    topic: str, data: dict[str, Any], device_id: str
) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(component, fallback unique id, label, config) of each live component of a device."""
    components = data.get("components")
    if not isinstance(components, dict):
        log.warning("ignoring %s: a device config needs a components object", topic)
        return []
    shared = {key: data[key] for key in SHARED_OPTIONS if key in data}
    parts = []
    for key, config in components.items():
        if not isinstance(config, dict) or not isinstance(config.get("platform"), str):
            log.warning("ignoring %s component %s: it has no platform", topic, key)
            continue
        own = {k: v for k, v in config.items() if k != "platform"}
        if own:  # a component reduced to its platform is being removed
            # A copy each: replacing ``~`` must not reach the other components' topics.
            merged = copy.deepcopy({**shared, **own, "device": data.get("device")})
            parts.append((config["platform"], f"{device_id}_{key}", str(key), merged))
    return parts


def _replace_base(config: dict[str, Any]) -> None:
    """``~`` at the start or end of a topic stands for the config's ``~`` value."""
    base = config.pop("~", None)
    if not isinstance(base, str):
        return
    entries = config.get("availability")
    holders = [config, *(entries if isinstance(entries, list) else [])]
    for holder in (h for h in holders if isinstance(h, dict)):
        for key, value in holder.items():
            if not key.endswith("topic") or not isinstance(value, str):
                continue
            if value.startswith("~"):
                holder[key] = base + value[1:]
            elif value.endswith("~"):
                holder[key] = value[:-1] + base


def _entity_id(component: str, config: dict[str, Any], fallback: str) -> str:
    unique_id = config.get("unique_id")
    usable = isinstance(unique_id, str | int) and not isinstance(unique_id, bool)
    return f"homeassistant:{component}.{unique_id if usable and unique_id != '' else fallback}"


def _device(config: dict[str, Any]) -> dict[str, Any]:
    device = config.get("device")
    return device if isinstance(device, dict) else {}


def _names(config: dict[str, Any], label: str) -> tuple[str, list[str]]:
    device_name = _device(config).get("name")
    device_name = device_name.strip() if isinstance(device_name, str) else ""
    own = config["name"].strip() if isinstance(config.get("name"), str) else ""
    if "name" not in config and isinstance(config.get("device_class"), str):
        own = config["device_class"].replace("_", " ").capitalize()  # as Home Assistant does
    if own and device_name and not own.lower().startswith(device_name.lower()):
        return f"{device_name} {own}", [own]
    return own or device_name or re.sub(r"[_-]+", " ", label), []


def _availability(config: dict[str, Any], entity_id: str) -> list[dict[str, Any]]:
    """Every availability topic, from ``availability_topic`` and the ``availability`` list."""
    entries = config.get("availability")
    single = {
        **config,
        "topic": config.get("availability_topic"),
        "value_template": config.get("availability_template"),
    }
    result = []
    for entry in [single, *(entries if isinstance(entries, list) else [entries])]:
        if not isinstance(entry, dict) or not isinstance(entry.get("topic"), str):
            continue
        template = entry.get("value_template")
        if template is not None and (problem := _template_problem(template)):
            log.warning("%s: ignoring availability on %s: %s", entity_id, entry["topic"], problem)
            continue
        result.append(
            {
                "topic": entry["topic"],
                "value_template": template,
                "online": str(entry.get("payload_available", "online")),
                "offline": str(entry.get("payload_not_available", "offline")),
            }
        )
    return result


def _entity(component: str, fallback: str, label: str, config: dict[str, Any]) -> Entity:
    if component not in DOMAINS:
        raise InvalidConfigError(f"component {component!r} is not supported")
    _replace_base(config)
    required = REQUIRED.get(component)
    if required and not (isinstance(config.get(required), str) and config[required]):
        raise InvalidConfigError(f"{required} is missing")
    if component == "light" and config.get("schema", "basic") not in ("basic", "default", "json"):
        raise InvalidConfigError(f"the {config['schema']!r} light schema is not supported")
    entity_id = _entity_id(component, config, fallback)
    left_out = ("device", "origin", "availability", "availability_topic", "availability_template")
    native = {**DEFAULTS.get(component, {}), **config, "component": component}
    for key in left_out:
        native.pop(key, None)
    native["availability"] = _availability(config, entity_id)
    for template_key, topic_key in TEMPLATE_TOPICS.items():
        problem = _template_problem(native[template_key]) if template_key in native else None
        if problem:
            log.warning("%s: ignoring %s: %s", entity_id, native.get(topic_key, topic_key), problem)
            native.pop(topic_key, None)
            native.pop(template_key)
    ranges = _ranges(component, native)
    actions = _actions(component, native)
    options = {"set_color": list(COLOR_NAMES)} if "set_color" in actions else {}
    if "set_hvac_mode" in actions:
        options["set_hvac_mode"] = [str(mode) for mode in native["modes"]]
    name, aliases = _names(config, label)
    area, device_class = _device(config).get("suggested_area"), native.get("device_class")
    return Entity(
        id=entity_id,
        name=name,
        aliases=aliases,
        area=area if isinstance(area, str) else None,
        domain=component,
        device_class=device_class if isinstance(device_class, str) else None,
        ecosystem="homeassistant",
        actions=actions,
        ranges={action: bounds for action, bounds in ranges.items() if action in actions},
        options=options,
        native=native,
    )


def _num(native: dict[str, Any], key: str, default: float) -> float:
    """A numeric option, checked, and stored back as a number for rendering and reading."""
    value = native.get(key, default)
    number = _float(value)
    if number is None:
        raise InvalidConfigError(f"{key} is not a number: {value!r}")
    native[key] = int(number) if number.is_integer() else number
    return number


def _span(
    native: dict[str, Any], keys: tuple[str, str], low: float, high: float
) -> tuple[float, float]:
    low, high = _num(native, keys[0], low), _num(native, keys[1], high)
    if low > high:
        raise InvalidConfigError(f"{keys[0]} {low:g} is above {keys[1]} {high:g}")
    return low, high


def _kelvin(native: dict[str, Any]) -> tuple[float, float]:
    if "min_kelvin" in native or "max_kelvin" in native:
        low, high = _span(native, ("min_kelvin", "max_kelvin"), *DEFAULT_KELVIN)
    elif "min_mireds" in native or "max_mireds" in native:
        mireds = _span(native, ("min_mireds", "max_mireds"), 153, 500)  # HA's mired defaults
        if mireds[0] <= 0:
            raise InvalidConfigError("min_mireds must be positive")
        low, high = math.floor(1e6 / mireds[1]), math.floor(1e6 / mireds[0])
    else:
        low, high = DEFAULT_KELVIN
    if low <= 0:
        raise InvalidConfigError("colour temperatures must be positive")
    return low, high


def _ranges(component: str, native: dict[str, Any]) -> dict[Action, Range]:
    """Bounds of the value actions; a config whose bounds contradict each other is invalid."""
    percent = Range(min=0, max=100, step=1, unit="%")
    if component == "light":
        if _num(native, "brightness_scale", 255) < 1:
            raise InvalidConfigError("brightness_scale must be at least 1")
        low, high = _kelvin(native)
        return {"set_brightness": percent, "set_color_temp": Range(min=low, max=high, unit="K")}
    if component == "fan":
        low, high = _span(native, ("speed_range_min", "speed_range_max"), 1, 100)
        step = 100 / (high - low + 1)  # one device speed
        return {"set_fan_percentage": Range(min=0, max=100, step=step, unit="%")}
    if component in ("cover", "valve"):
        if _num(native, "position_open", 100) == _num(native, "position_closed", 0):
            raise InvalidConfigError("position_open equals position_closed")
        return {"set_position": percent}
    if component == "climate":
        fahrenheit = native.get("temperature_unit") == "F"
        low, high = _span(native, ("min_temp", "max_temp"), *((45, 95) if fahrenheit else (7, 35)))
        step = _num(native, "temp_step", _float(native.get("precision")) or 1)
        if step <= 0 or not isinstance(native["modes"], list):
            raise InvalidConfigError("temp_step must be positive and modes a list")
        unit = "°F" if fahrenheit else "°C"
        return {"set_temperature": Range(min=low, max=high, step=step, unit=unit)}
    return {}


def _json_color_modes(native: dict[str, Any]) -> set[str]:
    """Colour modes of a JSON light, from ``supported_color_modes`` or the legacy flags."""
    modes = native.get("supported_color_modes")
    found = {str(mode) for mode in modes} if isinstance(modes, list) else set()
    return found | {flag for flag in ("rgb", "hs", "xy", "color_temp") if native.get(flag) is True}


def _actions(component: str, native: dict[str, Any]) -> list[Action]:
    def has(key: str) -> bool:
        return bool(native.get(key))

    command = has("command_topic")
    can: dict[Action, bool] = {"turn_on": command, "turn_off": command, "toggle": command}
    if component == "light" and native["schema"] == "json":
        modes = _json_color_modes(native)
        can["set_brightness"] = native.get("brightness") is True or bool(modes - {"onoff"})
        can["set_color_temp"] = "color_temp" in modes
        can["set_color"] = bool(modes & {"rgb", "rgbw", "rgbww", "hs", "xy"})
    elif component == "light":
        can["set_brightness"] = has("brightness_command_topic")
        can["set_color_temp"] = has("color_temp_command_topic")
        colors = ("rgb_command_topic", "hs_command_topic", "xy_command_topic")
        can["set_color"] = any(has(key) for key in colors)
    elif component == "fan":
        can["set_fan_percentage"] = has("percentage_command_topic")
    elif component == "cover":
        position = has("set_position_topic")
        can = {
            "open": position or (command and native["payload_open"] is not None),
            "close": position or (command and native["payload_close"] is not None),
            "stop": command and native["payload_stop"] is not None,
            "set_position": position,
        }
    elif component == "lock":
        can = {
            "lock": command,
            "unlock": command,
            "open": command and native.get("payload_open") is not None,
        }
    elif component == "valve":
        can = {
            "open": command,
            "close": command,
            "stop": command and native.get("payload_stop") is not None,
            "set_position": command and native["reports_position"] is True,
        }
    elif component == "climate":
        power, mode = has("power_command_topic"), has("mode_command_topic")
        can = {
            "set_temperature": has("temperature_command_topic"),
            "set_hvac_mode": mode,
            "turn_on": power,
            "turn_off": power or (mode and "off" in native["modes"]),
        }
    elif component in ("button", "scene"):
        can = {"activate": command}
    elif component != "switch":
        can = {}
    return [action for action in ACTIONS if can.get(action)]


def _kind(native: dict[str, Any]) -> str:
    component = str(native.get("component"))
    return "light_json" if component == "light" and native.get("schema") == "json" else component


# --- state ----------------------------------------------------------------------------------

Reader = Callable[[dict[str, Any], str], dict[str, Any] | None]


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _percent(value: float, low: float, high: float) -> int:
    return round(min(100.0, max(0.0, (value - low) * 100 / (high - low))))


def _from_percent(percent: float, low: float, high: float) -> float:
    return low + (high - low) * percent / 100


def _read_on(native: dict[str, Any], text: str) -> dict[str, Any] | None:
    on = str(native.get("state_on", native.get("payload_on")))
    off = str(native.get("state_off", native.get("payload_off")))
    return {"on": text == on} if text in (on, off) else None


def _read_brightness(native: dict[str, Any], text: str) -> dict[str, Any] | None:
    value = _float(text)
    # Home Assistant ignores a zero brightness too: whether the light is off is the state's say.
    return {"brightness": _percent(value, 0, native["brightness_scale"])} if value else None


def _read_json_light(native: dict[str, Any], text: str) -> dict[str, Any] | None:
    data = json_object(text) or {}
    fields: dict[str, Any] = {}
    if data.get("state") in ("ON", "OFF"):
        fields["on"] = data["state"] == "ON"
    if brightness := _float(data.get("brightness")):
        fields["brightness"] = _percent(brightness, 0, native["brightness_scale"])
    return fields


def _read_percentage(native: dict[str, Any], text: str) -> dict[str, Any] | None:
    value = _float(text)
    low, high = native["speed_range_min"] - 1, native["speed_range_max"]
    return None if value is None else {"percentage": _percent(value, low, high)}


def _read_position(native: dict[str, Any], text: str) -> dict[str, Any] | None:
    value = _float(text)
    low, high = native["position_closed"], native["position_open"]
    return None if value is None else {"position": _percent(value, low, high)}


def _read_open(native: dict[str, Any], text: str) -> dict[str, Any] | None:
    # While opening or closing, a cover or valve is not closed: it counts as open.
    keys = ("state_open", "state_opening", "state_closing", "state_closed")
    words = {str(native.get(key, key[6:])): key != "state_closed" for key in keys}
    return {"open": words[text]} if text in words else None


def _read_valve(native: dict[str, Any], text: str) -> dict[str, Any] | None:
    data = json_object(text)  # {"state": ..., "position": ...} or a plain payload
    state, position = (data.get("state"), data.get("position")) if data else (text, text)
    if native["reports_position"] is True and (fields := _read_position(native, str(position))):
        return {**fields, "open": fields["position"] > 0}
    return _read_open(native, str(state))


def _read_lock(native: dict[str, Any], text: str) -> dict[str, Any] | None:
    if text == str(native["state_locked"]):
        return {"locked": True}
    unlocked = (str(native["state_unlocked"]), str(native["state_open"]))
    return {"locked": False} if text in unlocked else None


def _read_number(key: str) -> Reader:
    def read(native: dict[str, Any], text: str) -> dict[str, Any] | None:
        value = _float(text)
        return None if value is None else {key: value}

    return read


def _read_mode(native: dict[str, Any], text: str) -> dict[str, Any] | None:
    return {"hvac_mode": text} if text in [str(mode) for mode in native["modes"]] else None


def _read_sensor(native: dict[str, Any], text: str) -> dict[str, Any] | None:
    number = _float(text)
    value = int(text) if re.fullmatch(r"-?\d+", text) else text if number is None else number
    unit = native.get("unit_of_measurement")
    return {"value": value, **({"unit": unit} if isinstance(unit, str) and unit else {})}


_READERS: dict[str, tuple[tuple[str, str, Reader], ...]] = {
    "light": (
        ("state_topic", "state_value_template", _read_on),
        ("brightness_state_topic", "brightness_value_template", _read_brightness),
    ),
    "light_json": (("state_topic", "", _read_json_light),),
    "switch": (("state_topic", "value_template", _read_on),),
    "fan": (
        ("state_topic", "state_value_template", _read_on),
        ("percentage_state_topic", "percentage_value_template", _read_percentage),
    ),
    "cover": (
        ("state_topic", "value_template", _read_open),
        ("position_topic", "position_template", _read_position),
    ),
    "lock": (("state_topic", "value_template", _read_lock),),
    "valve": (("state_topic", "value_template", _read_valve),),
    "climate": (
        ("temperature_state_topic", "temperature_state_template", _read_number("temperature")),
        (
            "current_temperature_topic",
            "current_temperature_template",
            _read_number("current_temperature"),
        ),
        ("mode_state_topic", "mode_state_template", _read_mode),
    ),
    "sensor": (("state_topic", "value_template", _read_sensor),),
    "binary_sensor": (("state_topic", "value_template", _read_on),),
}
"""Per kind of entity: (topic key, value template key, reader of what the template gives)."""


# --- commands -------------------------------------------------------------------------------

Renderer = Callable[[Entity, Action, Any], list[MqttMessage]]


def _number(action: Action, value: object) -> float:
    number = _float(value)
    if number is None:
        raise RenderError(f"{action} needs a number, got {value!r}")
    return number


def _msg(
    native: dict[str, Any], topic_key: str, value: object, template_key: str = "", **extra: Any
) -> MqttMessage:
    """``value`` on the topic under ``topic_key``, through the template under ``template_key``."""
    topic = native.get(topic_key)
    if not isinstance(topic, str) or not topic:
        raise RenderError(f"no {topic_key} is configured")
    template = native.get(template_key)
    if not template:
        return MqttMessage(topic, str(value))
    try:
        return MqttMessage(topic, _compile(template).render(value=value, **extra))
    except Exception as error:  # a device's template must not take the agent down
        raise RenderError(f"the command template for {topic} failed: {error}") from error


def _rgb(value: object) -> tuple[int, int, int]:
    return color_rgb(value if isinstance(value, str) else str(value))


def _hs(rgb: tuple[int, int, int]) -> tuple[float, float]:
    hue, saturation, _ = colorsys.rgb_to_hsv(*(channel / 255 for channel in rgb))
    return round(hue * 360, 1), round(saturation * 100, 1)


def _linear(channel: float) -> float:
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def _xy(rgb: tuple[int, int, int]) -> tuple[float, float]:
    """CIE 1931 xy of an sRGB colour (D65)."""
    r, g, b = (_linear(channel / 255) for channel in rgb)
    x, y = r * 0.4124 + g * 0.3576 + b * 0.1805, r * 0.2126 + g * 0.7152 + b * 0.0722
    total = x + y + r * 0.0193 + g * 0.1192 + b * 0.9505
    return (round(x / total, 4), round(y / total, 4)) if total else (0.0, 0.0)


def _device_brightness(native: dict[str, Any], percent: float) -> int:
    scale = native["brightness_scale"]
    return int(max(1, min(scale, round(percent / 100 * scale))))  # 1 %: dim, never off


def _color_temp(native: dict[str, Any], kelvin: float) -> int:
    return round(kelvin) if native.get("color_temp_kelvin") is True else math.floor(1e6 / kelvin)


def _basic_color(entity: Entity, value: object) -> MqttMessage:
    native, rgb = entity.native, _rgb(value)
    if native.get("rgb_command_topic"):
        r, g, b = rgb
        if not native.get("brightness_command_topic"):  # the colour carries the brightness
            level = entity.state.get("brightness") or 100
            r, g, b = (int(channel * level / 100) for channel in rgb)
        return _msg(
            native,
            "rgb_command_topic",
            f"{r},{g},{b}",
            "rgb_command_template",
            red=r,
            green=g,
            blue=b,
        )
    if native.get("hs_command_topic"):
        hue, sat = _hs(rgb)
        return _msg(
            native, "hs_command_topic", f"{hue},{sat}", "hs_command_template", hue=hue, sat=sat
        )
    x, y = _xy(rgb)
    return _msg(native, "xy_command_topic", f"{x},{y}", "xy_command_template", x=x, y=y)


def _render_light(entity: Entity, action: Action, value: Any) -> list[MqttMessage]:
    native = entity.native
    if action == "turn_off":
        return [_msg(native, "command_topic", native["payload_off"])]
    on = _msg(native, "command_topic", native["payload_on"])
    if action == "turn_on":
        if native["on_command_type"] != "brightness" or not native.get("brightness_command_topic"):
            return [on]
        action, value = "set_brightness", entity.state.get("brightness") or 100
    if action == "set_brightness":
        level = _device_brightness(native, value)
        change = _msg(native, "brightness_command_topic", level, "brightness_command_template")
    elif action == "set_color_temp":
        mireds = _color_temp(native, value)
        change = _msg(native, "color_temp_command_topic", mireds, "color_temp_command_template")
    else:
        change = _basic_color(entity, value)
    # on_command_type says where the ON goes: before, after, or instead of (brightness).
    return {"first": [on, change], "last": [change, on]}.get(native["on_command_type"], [change])


def _json_color(native: dict[str, Any], rgb: tuple[int, int, int]) -> dict[str, Any]:
    modes = _json_color_modes(native)
    if modes & {"rgb", "rgbw", "rgbww"}:
        white = {} if "rgb" in modes else {"w": 0} if "rgbw" in modes else {"c": 0, "w": 0}
        return {**dict(zip("rgb", rgb, strict=True)), **white}
    if "hs" in modes:
        return dict(zip("hs", _hs(rgb), strict=True))
    return dict(zip("xy", _xy(rgb), strict=True))


def _render_json_light(entity: Entity, action: Action, value: Any) -> list[MqttMessage]:
    native = entity.native
    body: dict[str, Any] = {"state": "OFF" if action == "turn_off" else "ON"}
    if action == "set_brightness":
        body["brightness"] = _device_brightness(native, value)
    elif action == "set_color_temp":
        body["color_temp"] = _color_temp(native, value)
    elif action == "set_color":
        body["color"] = _json_color(native, _rgb(value))
    return [_msg(native, "command_topic", json.dumps(body))]


def _position(
    native: dict[str, Any], topic_key: str, template_key: str, percent: float
) -> MqttMessage:
    closed, opened = native["position_closed"], native["position_open"]
    device = round(_from_percent(percent, closed, opened))
    extra = {"position": round(percent), "position_open": opened, "position_closed": closed}
    return _msg(native, topic_key, device, template_key, **extra)


def _render_cover(entity: Entity, action: Action, value: Any) -> list[MqttMessage]:
    native = entity.native
    payload = native.get(f"payload_{action}")
    if action in ("open", "close", "stop") and native.get("command_topic") and payload is not None:
        return [_msg(native, "command_topic", payload)]
    # Without a command topic, open and close are the ends of the position range.
    percent = {"open": 100, "close": 0}.get(action, value)
    return [_position(native, "set_position_topic", "set_position_template", percent)]


def _render_valve(entity: Entity, action: Action, value: Any) -> list[MqttMessage]:
    native = entity.native
    if native["reports_position"] is True and action != "stop":  # positions, not payloads
        percent = {"open": 100, "close": 0}.get(action, value)
        return [_position(native, "command_topic", "command_template", percent)]
    return [_msg(native, "command_topic", native[f"payload_{action}"], "command_template")]


def _render_climate(entity: Entity, action: Action, value: Any) -> list[MqttMessage]:
    native = entity.native
    if action == "set_temperature":
        return [_msg(native, "temperature_command_topic", value, "temperature_command_template")]
    if action in ("turn_on", "turn_off") and native.get("power_command_topic"):
        payload = native["payload_on" if action == "turn_on" else "payload_off"]
        return [_msg(native, "power_command_topic", payload, "power_command_template")]
    mode = "off" if action == "turn_off" else str(value)
    if mode not in [str(known) for known in native["modes"]]:
        raise RenderError(f"{entity.id} has no mode {mode!r}; it has {native['modes']}")
    return [_msg(native, "mode_command_topic", mode, "mode_command_template")]


def _render_plain(entity: Entity, action: Action, value: Any) -> list[MqttMessage]:
    """Switches, fans, locks, buttons and scenes: a payload on the command topic."""
    native = entity.native
    if action == "set_fan_percentage":
        low, high = native["speed_range_min"] - 1, native["speed_range_max"]
        speed = math.ceil(_from_percent(value, low, high))
        return [_msg(native, "percentage_command_topic", speed, "percentage_command_template")]
    button = native["component"] == "button"
    key = {
        "activate": "payload_press" if button else "payload_on",
        "turn_on": "payload_on",
        "turn_off": "payload_off",
    }.get(action, f"payload_{action}")
    # Scenes take no command template in Home Assistant; the others do.
    template = "" if native["component"] == "scene" else "command_template"
    return [_msg(native, "command_topic", native[key], template)]


_RENDERERS: dict[str, Renderer] = {
    "light": _render_light, "light_json": _render_json_light, "cover": _render_cover,
    "valve": _render_valve, "climate": _render_climate, "switch": _render_plain,
    "fan": _render_plain, "lock": _render_plain, "button": _render_plain, "scene": _render_plain,
}  # fmt: skip
