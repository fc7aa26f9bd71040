"""The daemon's configuration: a TOML file, then environment variables, then flags.

``load_config`` reads ``config.toml`` with :mod:`tomllib`, lays the ``EDGE_AGENT_*``
environment variables over it and then the command line's overrides, and validates the
result once. Every problem becomes a :class:`ConfigError` whose message starts with the
setting's path (``mqtt.port: ...``) and says where the bad value came from.

The field descriptions are the documentation: ``default_config_toml`` turns them into the
commented example file, so the two cannot drift apart.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import socket
import textwrap
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from edge_agent.agent.policy import PolicyConfig
from edge_agent.devices.static import StaticDevice
from edge_agent.llm.bundle import VerifyMode

if TYPE_CHECKING:
    from edge_agent.llm.onnx_lm import SessionSettings

DEFAULT_CONFIG_PATH = Path("/etc/edge-agent/config.toml")
ENV_PREFIX = "EDGE_AGENT_"

# Topic prefixes are used to build subscriptions, so wildcards or empty levels in them
# would subscribe to far more than intended.
_TOPIC_PREFIX = r"^[^/+#]+(/[^/+#]+)*$"


class ConfigError(Exception):
    """The configuration cannot be used; each line names a setting (or file) and the reason."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems if problems is not None else [message]


def default_node_id() -> str:
    """This machine's short hostname, lowercased, with anything outside ``[a-z0-9_-]`` as ``-``."""
    # The first label only: "kitchen-pi.lan" and "kitchen-pi" are the same satellite.
    host = socket.gethostname().split(".", 1)[0].lower()
    slug = re.sub(r"[^a-z0-9_-]+", "-", host).strip("-_")
    return slug or "edge-agent"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TlsSettings(_Section):
    enabled: bool = Field(
        default=False, description="connect to the broker over TLS (brokers usually listen on 8883)"
    )
    ca_file: Path | None = Field(
        default=None,
        description="CA certificates (PEM) that sign the broker's certificate; "
        "unset: the system's trusted CAs",
        examples=["/etc/ssl/certs/ca-certificates.crt"],
    )
    cert_file: Path | None = Field(
        default=None,
        description="client certificate (PEM), for brokers that check clients' certificates",
        examples=["/etc/edge-agent/client.crt"],
    )
    key_file: Path | None = Field(
        default=None,
        description="the client certificate's private key (PEM); unset: cert_file holds it",
        examples=["/etc/edge-agent/client.key"],
    )
    insecure: bool = Field(
        default=False,
        description="skip the check that the broker's certificate names its host "
        "(the certificate chain is still verified)",
    )

    @model_validator(mode="after")
    def _files_need_tls(self) -> TlsSettings:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file is set without cert_file")
        files = [n for n in ("ca_file", "cert_file", "key_file") if getattr(self, n) is not None]
        # Refused rather than ignored: certificates set up but TLS off would send the
        # password in clear text without any sign of it.
        if files and not self.enabled:
            raise ValueError(
                f"{', '.join(files)} set but enabled = false; enable TLS or remove them"
            )
        return self


class MqttSettings(_Section):
    host: str = Field(default="localhost", min_length=1, description="the broker's host name or IP")
    port: int = Field(default=1883, ge=1, le=65535, description="the broker's port")
    protocol: Literal["5", "3.1.1"] = Field(
        default="5",
        description='MQTT version: "5" (response topics, message expiry, persistent '
        'sessions) or "3.1.1"',
    )
    client_id: str | None = Field(
        default=None,
        min_length=1,
        description="MQTT client id; default: edge-agent-<node_id>",
        examples=["edge-agent-kitchen"],
    )
    username: str | None = Field(
        default=None, description="user name for the broker; unset: anonymous", examples=["edge"]
    )
    password_secret: SecretStr | None = Field(
        default=None,
        alias="password",
        description="password for the broker, written here; prefer password_file or "
        "password_credential, which keep it out of this file",
        examples=["secret"],
    )
    password_file: Path | None = Field(
        default=None,
        description="file holding the password (a trailing newline is ignored); "
        "used when password_credential is not set or not running under systemd",
        examples=["/etc/edge-agent/mqtt-password"],
    )
    password_credential: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@:-]*$",
        description="name of a systemd credential holding the password (LoadCredential=); "
        "read from $CREDENTIALS_DIRECTORY/<name> when the service runs under systemd",
        examples=["mqtt-password"],
    )
    tls: TlsSettings = Field(default_factory=TlsSettings, description="TLS to the broker")
    keepalive_s: int = Field(
        default=30, ge=0, le=65535, description="seconds between keepalive pings; 0: none"
    )
    reconnect_min_s: float = Field(
        default=1.0, gt=0, description="first wait before reconnecting after a lost connection"
    )
    reconnect_max_s: float = Field(
        default=60.0, gt=0, description="longest wait between reconnects (the wait doubles)"
    )
    session_expiry_s: int = Field(
        default=3600,
        ge=0,
        le=0xFFFFFFFF,
        description="MQTT 5: seconds the broker keeps our session (subscriptions, queued "
        "QoS 1 requests) after a disconnect; 0: none",
    )
    message_expiry_s: int = Field(
        default=60,
        ge=0,
        le=0xFFFFFFFF,
        description="MQTT 5: seconds after which a command we publish is dropped if not "
        "delivered (a light switching on an hour late is worse than not at all); 0: never",
    )
    shared_group: str | None = Field(
        default=None,
        pattern=r"^[^/+#]+$",
        description="subscribe to requests as $share/<group>/... so that several agents "
        "share the requests of one base topic; unset: every agent gets every request",
        examples=["edge-agents"],
    )
    homeassistant_prefix: str = Field(
        default="homeassistant",
        pattern=_TOPIC_PREFIX,
        description="Home Assistant MQTT discovery prefix",
    )
    zigbee2mqtt_base: str = Field(
        default="zigbee2mqtt", pattern=_TOPIC_PREFIX, description="zigbee2mqtt base topic"
    )
    tasmota_prefix: str = Field(
        default="tasmota/discovery",
        pattern=_TOPIC_PREFIX,
        description="Tasmota discovery prefix",
    )
    homie_root: str = Field(default="homie", pattern=_TOPIC_PREFIX, description="Homie root topic")
    discover_homeassistant: bool = Field(
        default=True, description="find devices in Home Assistant MQTT discovery"
    )
    discover_zigbee2mqtt: bool = Field(
        default=True, description="find devices in zigbee2mqtt's bridge/devices"
    )
    discover_tasmota: bool = Field(default=True, description="find devices in Tasmota discovery")
    discover_homie: bool = Field(default=True, description="find Homie 5 devices")
    publish_ha_discovery: bool = Field(
        default=True,
        description="announce this agent to Home Assistant through MQTT discovery",
    )

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        if self.password_secret is not None and (
            self.password_file is not None or self.password_credential is not None
        ):
            raise ValueError(
                "password is set together with password_file or password_credential; keep one"
            )
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError(
                f"reconnect_min_s ({self.reconnect_min_s:g}) is above "
                f"reconnect_max_s ({self.reconnect_max_s:g})"
            )
        return self

    def password(self, env: Mapping[str, str] | None = None) -> str | None:
        """The broker password from ``password``, the systemd credential or ``password_file``.

        The credential wins when ``$CREDENTIALS_DIRECTORY`` is set (running under systemd);
        otherwise ``password_file`` is read. None when no password is configured.
        """
        env = os.environ if env is None else env
        if self.password_secret is not None:
            return self.password_secret.get_secret_value()
        if self.password_credential is not None:
            directory = env.get("CREDENTIALS_DIRECTORY")
            if directory:
                return _read_secret(
                    Path(directory) / self.password_credential, "mqtt.password_credential"
                )
            if self.password_file is None:
                raise ConfigError(
                    f"mqtt.password_credential: {self.password_credential!r} is set but "
                    "$CREDENTIALS_DIRECTORY is not (run under systemd with LoadCredential="
                    f"{self.password_credential}:<file>, or set mqtt.password_file)"
                )
        if self.password_file is not None:
            return _read_secret(self.password_file, "mqtt.password_file")
        return None


def _read_secret(path: Path, setting: str) -> str:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{setting}: {path} is not UTF-8 text") from exc
    # Only the newline that editors and `echo` add: other whitespace may be part of it.
    return text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")


class ModelSettings(_Section):
    bundle: Path = Field(
        default=Path("/var/lib/edge-agent/models/current"),
        description="the model bundle folder (a relative path is relative to this file)",
    )
    threads: int = Field(
        default=0, ge=0, description="onnxruntime threads per operator; 0: one per core"
    )
    optimization: Literal["disable", "basic", "extended", "all"] = Field(
        default="all", description="onnxruntime graph optimization: disable, basic, extended, all"
    )
    providers: list[str] = Field(
        default_factory=lambda: ["CPUExecutionProvider"],
        min_length=1,
        description="onnxruntime execution providers, in order of preference "
        "(unavailable ones are skipped)",
    )
    verify: VerifyMode = Field(
        default="first",
        description='checking the bundle\'s files at start: "always" hashes them, "first" '
        'hashes once and then trusts unchanged files, "size" checks sizes only',
    )
    max_new_tokens: int | None = Field(
        default=None,
        gt=0,
        description="most tokens generated for one answer; unset: the bundle's default",
        examples=[128],
    )

    def session_settings(self) -> SessionSettings:
        """These settings for :class:`~edge_agent.llm.onnx_lm.OnnxCausalLM`."""
        # Imported here so that reading the config never loads onnxruntime.
        from edge_agent.llm.onnx_lm import SessionSettings

        return SessionSettings(
            intra_op_threads=self.threads,
            optimization=self.optimization,
            providers=tuple(self.providers),
        )


class VoiceConfig(_Section):
    enabled: bool = Field(
        default=False, description="listen to a microphone (needs the voice extra)"
    )
    recognizer: Literal["pocketsphinx", "vosk"] = Field(
        default="pocketsphinx",
        description="pocketsphinx: English model inside its wheel; vosk: a model folder "
        "you download (vosk_model)",
    )
    vosk_model: Path | None = Field(
        default=None,
        description="folder of a vosk model, e.g. vosk-model-small-en-us-0.15",
        examples=["/var/lib/edge-agent/vosk-model-small-en-us-0.15"],
    )
    open_vocabulary: bool = Field(
        default=False,
        description="when speech is not one of the home's commands, recognize it freely "
        "and hand it to the model anyway (more reach, more mistakes)",
    )
    device: str | int | None = Field(
        default=None,
        description="microphone: a sounddevice name or index; default: the system's",
        examples=["USB Audio"],
    )
    wake: str | None = Field(
        default="hey computer",
        description="phrase that starts a request; empty: every utterance is one",
    )
    push_to_talk: bool = Field(
        default=False,
        description="listen for requests only after a trigger on <base>/voice/listen "
        "(a button's automation, say), not for the wake phrase; the trigger works either way",
    )
    speak: bool = Field(default=True, description="say the reply (espeak-ng)")
    speak_command: list[str] | None = Field(
        default=None,
        description="command that reads the reply on stdin and plays it (e.g. piper); "
        "default: espeak-ng --stdin",
        examples=[
            [
                "sh",
                "-c",
                "piper -m /var/lib/edge-agent/voice.onnx --output-raw | aplay -r 22050 -f S16_LE",
            ]
        ],
    )


class AgentSettings(_Section):
    candidates: int = Field(
        default=8, ge=1, description="devices offered to the model for one request"
    )
    none_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="do nothing when the model gives naming no device at least this "
        "probability (default: the bundle's calibrated value; 1: only when it is certain)",
    )
    request_queue: int = Field(
        default=16,
        ge=1,
        description="most requests waiting to be handled; beyond it new ones are refused",
    )
    max_request_chars: int = Field(
        default=500, ge=1, description="longest request text accepted, in characters"
    )
    dedupe_cache: int = Field(
        default=256,
        ge=0,
        description="request ids remembered so that a redelivered request (QoS 1) "
        "is not carried out twice; 0: none",
    )
    area: str | None = Field(
        default=None,
        min_length=1,
        description="this satellite's area, for requests that name none "
        '("turn on the light" in the kitchen)',
        examples=["Kitchen"],
    )
    language: str = Field(
        default="en",
        pattern=r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$",
        description="language of requests and replies (BCP 47, e.g. en, en-GB)",
    )


LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LoggingSettings(_Section):
    level: LogLevel = Field(
        default="info", description="least severe messages logged: debug, info, warning, error"
    )
    journald: Literal["auto"] | bool = Field(
        default="auto",
        description="prefix lines with syslog priorities (<6>) so that journald records "
        'each level; "auto": when stderr is the journal ($JOURNAL_STREAM)',
    )

    @field_validator("level", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


_EXAMPLE_DEVICES: list[dict[str, Any]] = [
    {
        "name": "Porch Light",
        "aliases": ["front light"],
        "area": "Outside",
        "domain": "light",
        "state_topic": "porch/light/state",
        "commands": {
            "turn_on": {"topic": "porch/light/set", "payload": "ON"},
            "turn_off": {"topic": "porch/light/set", "payload": "OFF"},
            "set_brightness": {"topic": "porch/light/set", "payload": '{"brightness": {value}}'},
        },
        "ranges": {"set_brightness": {"min": 0, "max": 100, "unit": "%"}},
    },
    {
        "id": "garage_door",
        "name": "Garage Door",
        "area": "Garage",
        "domain": "cover",
        "device_class": "garage",
        "state_topic": "garage/door/state",
        "state_on": "open",
        "state_off": "closed",
        "commands": {
            "open": {"topic": "garage/door/cmd", "payload": "OPEN"},
            "close": {"topic": "garage/door/cmd", "payload": "CLOSE"},
        },
    },
]


class Config(BaseModel):
    """Everything the daemon reads at start."""

    model_config = ConfigDict(extra="forbid")

    node_id: str = Field(
        default_factory=default_node_id,
        pattern=r"^[a-z0-9_-]+$",
        description="this agent's name in its topics (<base_topic>/<node_id>/request); "
        "letters a-z, digits, _ and -; default: the hostname",
        examples=["kitchen"],
    )
    base_topic: str = Field(
        default="edge-agent",
        pattern=_TOPIC_PREFIX,
        description="first level of the agent's own topics",
    )
    mqtt: MqttSettings = Field(
        default_factory=MqttSettings, description="the broker, and where devices announce"
    )
    model: ModelSettings = Field(default_factory=ModelSettings, description="the language model")
    agent: AgentSettings = Field(default_factory=AgentSettings, description="request handling")
    policy: PolicyConfig = Field(
        default_factory=PolicyConfig, description="what the agent may do, and what needs a yes"
    )
    devices: list[StaticDevice] = Field(
        default_factory=list,
        description="devices that announce nothing over MQTT, one [[devices]] table each: "
        "every action names its topic and payload, {value} in a payload is the number "
        "or word asked for",
        examples=[_EXAMPLE_DEVICES],
    )
    logging: LoggingSettings = Field(
        default_factory=LoggingSettings, description="what the daemon logs, and how"
    )
    voice: VoiceConfig = Field(default_factory=VoiceConfig, description="speech in and out")

    @field_validator("devices")
    @classmethod
    def _unique_devices(cls, devices: list[StaticDevice]) -> list[StaticDevice]:
        seen: set[str] = set()
        for device in devices:
            entity_id = device.entity().id
            if entity_id in seen:
                raise ValueError(
                    f"two devices have the id {entity_id!r}; give one of them its own id"
                )
            seen.add(entity_id)
        return devices

    @model_validator(mode="after")
    def _derived_defaults(self) -> Config:
        if self.mqtt.client_id is None:
            # A copy: the section may be an instance the caller passed in and still holds.
            self.mqtt = self.mqtt.model_copy(update={"client_id": f"edge-agent-{self.node_id}"})
        return self


# --- loading -----------------------------------------------------------------------------

# Where each setting was last set, so that an error can say which file or variable to fix.
_Sources = dict[tuple[str, ...], str]


def load_config(
    path: Path | None,
    env: Mapping[str, str] = os.environ,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Defaults < the TOML file at ``path`` < ``EDGE_AGENT_*`` variables < ``overrides``.

    ``overrides`` is a nested dict such as ``{"mqtt": {"host": "broker"}}``; None values
    in it are skipped, so unset command-line flags can be passed as they are.
    """
    data: dict[str, Any] = {}
    sources: _Sources = {}
    if path is not None:
        path = Path(path)
        _merge(data, sources, _resolve_paths(_read_toml(path), path.parent), f"in {path}")
    for name, keys, value in _env_layers(env):
        _merge(data, sources, _nest(keys, value), f"from ${name}")
    if overrides:
        _merge(data, sources, overrides, "from the command line", skip_none=True)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, sources) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's TOMLDecodeError has no line attribute, only this message suffix.
        message = str(exc)
        found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if found:
            reason = message[: found.start()]
            raise ConfigError(f"{path}: line {found[1]}: {reason} (column {found[2]})") from None
        raise ConfigError(f"{path}: {message}") from None


def _path_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, info in model.model_fields.items():
        key = (*prefix, info.alias or name)
        inner = _without_none(info.annotation)
        if inner is Path:
            yield key
        elif isinstance(inner, type) and issubclass(inner, BaseModel):
            yield from _path_fields(inner, key)


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    # Relative paths in the file mean "next to this file", not "in whatever folder the
    # service happened to start in" (systemd starts it in /).
    for keys in _path_fields(Config):
        parent: Any = data
        for key in keys[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            value = parent.get(keys[-1])
            if isinstance(value, str) and value and not Path(value).is_absolute():
                parent[keys[-1]] = str(base / value)
    return data


def _env_value(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    # Numbers and booleans are passed on as text and converted by the field's own type, so
    # a field that holds text keeps it as written ("5" for mqtt.protocol, a numeric password).
    if isinstance(value, bool | int | float):
        return text.strip()
    return value


def _env_layers(env: Mapping[str, str]) -> list[tuple[str, list[str], Any]]:
    """``(variable, key path, value)`` of each EDGE_AGENT_ setting, general ones first."""
    top = {info.alias or name for name, info in Config.model_fields.items()}
    layers = []
    for name, text in env.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        # Other EDGE_AGENT_ variables (EDGE_AGENT_CACHE) are not settings; a name with "__"
        # is meant as one, so an unknown section in it is reported, not ignored.
        if keys[0] not in top and len(keys) == 1:
            continue
        if not all(keys):
            raise ConfigError(f"${name}: empty key in the name (between '__')")
        layers.append((name, keys, _env_value(text)))
    # A whole section (EDGE_AGENT_MQTT='{...}') first, so its own keys can refine it.
    layers.sort(key=lambda layer: (len(layer[1]), layer[0]))
    return layers


def _nest(keys: list[str], value: Any) -> dict[str, Any]:
    for key in reversed(keys[1:]):
        value = {key: value}
    return {keys[0]: value}


def _merge(
    data: dict[str, Any],
    sources: _Sources,
    layer: Mapping[str, Any],
    source: str,
    prefix: tuple[str, ...] = (),
    *,
    skip_none: bool = False,
) -> None:
    for key, value in layer.items():
        if value is None and skip_none:
            continue
        keys = (*prefix, str(key))
        if isinstance(value, Mapping):
            if not isinstance(data.get(key), dict):
                data[key] = {}
                _forget(sources, keys)
            _merge(data[key], sources, value, source, keys, skip_none=skip_none)
        else:
            data[key] = value
            _forget(sources, keys)
            sources[keys] = source


def _forget(sources: _Sources, keys: tuple[str, ...]) -> None:
    for known in [k for k in sources if k[: len(keys)] == keys]:
        del sources[known]


# --- error messages ----------------------------------------------------------------------

Loc = tuple[str | int, ...]


def _without_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _without_none(members[0])
    return annotation


def _step(annotation: Any, part: str | int) -> tuple[bool, Any]:
    """The type found at ``part`` inside ``annotation``, if ``part`` is a real key there."""
    tp = _without_none(annotation)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            if part == (info.alias or name):
                return True, info.annotation
        return False, None
    origin = typing.get_origin(tp)
    if origin is list and isinstance(part, int):
        return True, typing.get_args(tp)[0]
    if origin is dict and isinstance(part, str) and part != "[key]":
        return True, typing.get_args(tp)[1]
    if origin in (typing.Union, types.UnionType):
        for member in typing.get_args(tp):
            found, inner = _step(member, part)
            if found:
                return True, inner
    return False, None


def _is_union(annotation: Any) -> bool:
    tp = _without_none(annotation)
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _clean_loc(loc: Loc) -> tuple[Loc, Any]:
    """The settings path of a pydantic error location, and the type of its parent.

    pydantic adds the member it tried to a union's location (``bool``, ``literal['auto']``)
    and ``[key]`` for a bad dict key; neither is something a user can write, so both go.
    """
    path: list[str | int] = []
    current: Any = Config
    parent: Any = None
    for part in loc:
        found, inner = _step(current, part)
        if found:
            path.append(part)
            parent, current = current, inner
        elif part == "[key]" or _is_union(current):
            continue
        else:
            path.append(part)
            parent, current = current, None
    return tuple(path), parent


def _format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text or "config"


def _unknown_key(key: str | int, parent: Any) -> str:
    message = "unknown key"
    tp = _without_none(parent)
    if isinstance(key, str) and isinstance(tp, type) and issubclass(tp, BaseModel):
        names = [info.alias or name for name, info in tp.model_fields.items()]
        close = difflib.get_close_matches(key, names, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
    return message


def _source_of(loc: Loc, sources: _Sources) -> str | None:
    keys = tuple(str(p) for p in loc)
    for end in range(len(keys), 0, -1):
        if keys[:end] in sources:
            return sources[keys[:end]]
    # A table's own error (an unknown section, two settings that conflict): name the source
    # only when everything under it came from one place, or the hint would mislead.
    below = {source for known, source in sources.items() if known[: len(keys)] == keys}
    return below.pop() if len(below) == 1 else None


def _config_error(exc: ValidationError, sources: _Sources) -> ConfigError:
    messages: dict[Loc, list[str]] = {}
    for error in exc.errors():
        loc, parent = _clean_loc(tuple(error["loc"]))
        if error["type"] == "extra_forbidden" and loc:
            message = _unknown_key(loc[-1], parent)
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        found = messages.setdefault(loc, [])
        if message not in found:
            found.append(message)
    problems = []
    for loc, found in messages.items():
        source = _source_of(loc, sources)
        where = f" ({source})" if source else ""
        problems.append(f"{_format_loc(loc)}: {'; '.join(found)}{where}")
    return ConfigError("\n".join(problems), problems)


# --- the commented example file ----------------------------------------------------------

# Set per machine: the example shows them commented out instead of this machine's values.
_MACHINE_DEFAULTS = {("node_id",)}

# PolicyConfig belongs to the agent package and lacks some examples and descriptions; its
# own, where it has them, win over these.
_EXAMPLES: dict[tuple[str, ...], Any] = {
    ("policy", "allow_domains"): ["light", "switch", "fan", "cover", "climate"],
    ("policy", "allow_entities"): ["Kitchen Light", "light.hallway"],
}
_DESCRIPTIONS: dict[tuple[str, ...], str] = {
    ("policy", "deny_domains"): "domains that may never be commanded",
    ("policy", "confirm_timeout_s"): "seconds a question for confirmation waits for its yes",
}

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # Python spells inf, -inf and nan as TOML does
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, PurePath):
        value = str(value)
    if isinstance(value, str):
        # JSON's escapes are valid TOML basic-string escapes; TOML also forbids a raw DEL.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, BaseModel):
        return _toml_value(value.model_dump(mode="json", by_alias=True, exclude_none=True))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = [f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items()]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _comment(text: str | None) -> list[str]:
    if not text:
        return []
    return textwrap.wrap(text, width=96, initial_indent="# ", subsequent_indent="# ")


def _table_lines(table: Mapping[str, Any]) -> list[str]:
    lines = []
    for key, value in table.items():
        if value is None:
            continue
        nested = (
            isinstance(value, Mapping)
            and bool(value)
            and all(isinstance(v, Mapping) for v in value.values())
        )
        if nested:
            # commands.turn_on = { ... } reads better than one inline table of tables.
            for inner_key, inner in value.items():
                lines.append(f"{_toml_key(key)}.{_toml_key(str(inner_key))} = {_toml_value(inner)}")
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return lines


def _section_lines(model: type[BaseModel], prefix: tuple[str, ...]) -> list[str]:
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        keys = (*prefix, key)
        inner = _without_none(info.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            tables.append((key, info))
            continue
        if typing.get_origin(inner) is list and keys == ("devices",):
            continue  # shown last, as commented [[devices]] tables
        default = info.get_default(call_default_factory=True)
        lines.append("")
        lines.extend(_comment(info.description or _DESCRIPTIONS.get(keys)))
        if default is None or keys in _MACHINE_DEFAULTS:
            example = info.examples[0] if info.examples else _EXAMPLES.get(keys, default)
            shown = "..." if example is None else _toml_value(example)
            lines.append(f"# {_toml_key(key)} = {shown}")
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(default)}")
    for key, info in tables:
        keys = (*prefix, key)
        section = _without_none(info.annotation)
        lines.append("")
        lines.extend(_comment(info.description))
        lines.append(f"[{'.'.join(_toml_key(k) for k in keys)}]")
        lines.extend(_section_lines(section, keys))
    return lines


def default_config_toml() -> str:
    """A commented config file: every setting with its description and default value."""
    lines = [
        "# edge-agent configuration (TOML).",
        "#",
        "# Every setting is shown with its default. Environment variables",
        "# EDGE_AGENT_<SECTION>__<KEY> (EDGE_AGENT_MQTT__PORT=1884, EDGE_AGENT_NODE_ID=kitchen)",
        "# override this file, and command-line flags override both.",
    ]
    lines.extend(_section_lines(Config, ()))
    devices = Config.model_fields["devices"]
    lines.append("")
    lines.extend(_comment(devices.description))
    for device in _EXAMPLE_DEVICES:
        lines.append("#")
        lines.append("# [[devices]]")
        lines.extend(f"# {line}" for line in _table_lines(device))
    return "\n".join(lines) + "\n"
