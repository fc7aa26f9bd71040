"""The config file, its environment and flag overrides, and the messages for bad settings."""

from __future__ import annotations

import re
import socket
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from edge_agent.config import (
    AgentSettings,
    Config,
    ConfigError,
    LoggingSettings,
    ModelSettings,
    MqttSettings,
    TlsSettings,
    default_config_toml,
    default_node_id,
    load_config,
)

FULL = """\
node_id = "kitchen"
base_topic = "home/agents"

[mqtt]
host = "broker.lan"
port = 8883
protocol = "3.1.1"
client_id = "kitchen-agent"
username = "agent"
password_file = "secrets/mqtt"
keepalive_s = 45
reconnect_min_s = 2.0
reconnect_max_s = 30.0
session_expiry_s = 0
message_expiry_s = 10
shared_group = "agents"
homeassistant_prefix = "ha"
zigbee2mqtt_base = "z2m"
tasmota_prefix = "tas/disc"
homie_root = "homie5"
discover_homie = false
publish_ha_discovery = false

[mqtt.tls]
enabled = true
ca_file = "/etc/ssl/ca.pem"
insecure = true

[model]
bundle = "models/smollm2"
threads = 2
optimization = "extended"
providers = ["XnnpackExecutionProvider", "CPUExecutionProvider"]
verify = "size"
max_new_tokens = 64

[agent]
candidates = 5
request_queue = 4
max_request_chars = 200
dedupe_cache = 0
area = "Kitchen"
language = "en-GB"

[policy]
out_of_range = "refuse"
deny_domains = ["lock"]
confirm_actions = ["unlock", "open"]

[logging]
level = "DEBUG"
journald = false

[[devices]]
name = "Porch Light"
area = "Outside"
domain = "light"
state_topic = "porch/state"
commands.turn_on = { topic = "porch/set", payload = "ON" }
commands.turn_off = { topic = "porch/set", payload = "OFF" }
commands.set_brightness = { topic = "porch/set", payload = '{"brightness": {value}}' }
ranges.set_brightness = { min = 0, max = 100 }

[[devices]]
id = "pump"
name = "Garden Pump"
domain = "switch"
commands.turn_on = { topic = "garden/pump", payload = "1" }
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path | None, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


# --- defaults ---------------------------------------------------------------------------


def test_defaults_are_valid_and_match_the_contract() -> None:
    config = load_config(None, env={})
    assert config == Config()
    assert re.fullmatch(r"[a-z0-9_-]+", config.node_id)
    assert config.base_topic == "edge-agent"
    assert config.mqtt.client_id == f"edge-agent-{config.node_id}"
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.protocol) == ("localhost", 1883, "5")
    assert config.mqtt.password() is None
    assert config.mqtt.tls.enabled is False
    assert config.model.bundle == Path("/var/lib/edge-agent/models/current")
    assert config.model.verify == "first"
    assert config.agent.request_queue == 16
    assert config.policy.out_of_range == "clamp"
    assert config.devices == []
    assert (config.logging.level, config.logging.journald) == ("info", "auto")


@pytest.mark.parametrize(
    ("hostname", "node_id"),
    [
        ("Kitchen-Pi.local", "kitchen-pi"),
        ("Living Room Pi", "living-room-pi"),
        ("...", "edge-agent"),
    ],
)
def test_node_id_defaults_to_the_sanitised_hostname(
    monkeypatch: pytest.MonkeyPatch, hostname: str, node_id: str
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: hostname)
    assert default_node_id() == node_id
    config = Config()
    assert config.node_id == node_id
    assert config.mqtt.client_id == f"edge-agent-{node_id}"


def test_the_commented_defaults_round_trip(tmp_path: Path) -> None:
    text = default_config_toml()
    assert Config.model_validate(tomllib.loads(text)) == Config()
    assert load_config(write(tmp_path, text), env={}) == Config()


SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("", Config),
    ("mqtt", MqttSettings),
    ("mqtt.tls", TlsSettings),
    ("model", ModelSettings),
    ("agent", AgentSettings),
    ("logging", LoggingSettings),
]


@pytest.mark.parametrize(("table", "model"), SECTIONS, ids=[s[0] or "top" for s in SECTIONS])
def test_every_field_is_described_and_shown_in_the_example(
    table: str, model: type[BaseModel]
) -> None:
    text = default_config_toml()
    body = text if not table else text.split(f"\n[{table}]\n", 1)[1]
    for name, info in model.model_fields.items():
        key = info.alias or name
        assert info.description, f"{table}.{key} has no description"
        if key == "devices":
            continue
        if not issubclass(_inner(info.annotation), BaseModel):
            assert re.search(rf"^(# )?{key} = ", body, re.M), f"{table}.{key} is not shown"
            # Its description is the comment just above it.
            first_words = " ".join(info.description.split()[:4])
            assert f"# {first_words}" in body


def _inner(annotation: object) -> type:
    return annotation if isinstance(annotation, type) else object


def test_the_example_shows_policy_settings_and_machine_values_commented() -> None:
    text = default_config_toml()
    policy = text.split("\n[policy]\n", 1)[1]
    for key in ("out_of_range", "allow_domains", "deny_domains", "confirm_timeout_s"):
        assert re.search(rf"^(# )?{key} = ", policy, re.M)
    # The generating machine's hostname must not end up in everyone's config.
    assert re.search(r"^# node_id = ", text, re.M)
    assert re.search(r"^# client_id = ", text, re.M)


def test_the_commented_devices_example_is_valid() -> None:
    text = default_config_toml()
    block = text[text.index("# [[devices]]") :]
    uncommented = "\n".join(re.sub(r"^# ?", "", line) for line in block.splitlines())
    config = Config.model_validate(tomllib.loads(uncommented))
    assert [d.name for d in config.devices] == ["Porch Light", "Garage Door"]
    entity = config.devices[0].entity()
    assert entity.ranges["set_brightness"].max == 100
    assert "set_brightness" in entity.actions


# --- a full file ------------------------------------------------------------------------


def test_a_file_with_every_section(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), env={})
    assert (config.node_id, config.base_topic) == ("kitchen", "home/agents")
    mqtt = config.mqtt
    assert (mqtt.host, mqtt.port, mqtt.protocol, mqtt.client_id) == (
        "broker.lan", 8883, "3.1.1", "kitchen-agent",
    )  # fmt: skip
    assert mqtt.username == "agent"
    assert (mqtt.keepalive_s, mqtt.reconnect_min_s, mqtt.reconnect_max_s) == (45, 2.0, 30.0)
    assert (mqtt.session_expiry_s, mqtt.message_expiry_s, mqtt.shared_group) == (0, 10, "agents")
    assert (mqtt.homeassistant_prefix, mqtt.zigbee2mqtt_base) == ("ha", "z2m")
    assert (mqtt.tasmota_prefix, mqtt.homie_root) == ("tas/disc", "homie5")
    assert mqtt.discover_homeassistant and not mqtt.discover_homie
    assert not mqtt.publish_ha_discovery
    assert mqtt.tls.enabled and mqtt.tls.insecure
    assert mqtt.tls.ca_file == Path("/etc/ssl/ca.pem")
    # Relative paths are relative to the config file, not to the working directory.
    assert mqtt.password_file == tmp_path / "secrets/mqtt"
    assert config.model.bundle == tmp_path / "models/smollm2"
    assert config.model.providers == ["XnnpackExecutionProvider", "CPUExecutionProvider"]
    assert (config.model.verify, config.model.max_new_tokens) == ("size", 64)
    assert (config.agent.candidates, config.agent.area, config.agent.language) == (
        5, "Kitchen", "en-GB",
    )  # fmt: skip
    assert config.agent.dedupe_cache == 0
    assert config.policy.out_of_range == "refuse"
    assert config.policy.deny_domains == ["lock"]
    assert (config.logging.level, config.logging.journald) == ("debug", False)
    assert len(config.devices) == 2


def test_model_settings_become_session_settings() -> None:
    settings = ModelSettings(threads=3, optimization="basic").session_settings()
    assert settings.intra_op_threads == 3
    assert settings.optimization == "basic"
    assert settings.providers == ("CPUExecutionProvider",)


def test_static_devices_produce_entities(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), env={})
    porch, pump = (device.entity() for device in config.devices)
    assert porch.id == "static:porch_light"
    assert (porch.ecosystem, porch.domain, porch.area) == ("static", "light", "Outside")
    assert porch.actions == ["turn_on", "turn_off", "set_brightness"]
    assert porch.native["commands"]["set_brightness"]["payload"] == '{"brightness": {value}}'
    assert porch.native["state_topic"] == "porch/state"
    assert pump.id == "static:pump"
    assert pump.actions == ["turn_on"]


def test_two_devices_with_one_id_are_refused(tmp_path: Path) -> None:
    text = '[[devices]]\nname = "Lamp"\ndomain = "light"\n' * 2
    message = error_of(write(tmp_path, text), env={})
    assert message.startswith("devices: two devices have the id 'static:lamp'")


# --- environment and flags --------------------------------------------------------------


def test_environment_overrides_nested_settings() -> None:
    env = {
        "EDGE_AGENT_NODE_ID": "kitchen",
        "EDGE_AGENT_MQTT__PORT": "1884",
        "EDGE_AGENT_MQTT__TLS__ENABLED": "true",
        "EDGE_AGENT_MQTT__TLS__CA_FILE": "/etc/ca.pem",
        "EDGE_AGENT_MODEL__PROVIDERS": '["XnnpackExecutionProvider"]',
        "EDGE_AGENT_POLICY__ALLOW_DOMAINS": '["light", "switch"]',
        "EDGE_AGENT_AGENT__AREA": "Living Room",
        "EDGE_AGENT_LOGGING__JOURNALD": "false",
    }
    config = load_config(None, env=env)
    assert config.node_id == "kitchen"
    assert config.mqtt.client_id == "edge-agent-kitchen"
    assert config.mqtt.port == 1884
    assert config.mqtt.tls.enabled is True
    assert config.mqtt.tls.ca_file == Path("/etc/ca.pem")
    assert config.model.providers == ["XnnpackExecutionProvider"]
    assert config.policy.allow_domains == ["light", "switch"]
    assert config.agent.area == "Living Room"
    assert config.logging.journald is False


def test_environment_names_are_case_insensitive() -> None:
    config = load_config(
        None, env={"edge_agent_mqtt__host": "b1", "Edge_Agent_Agent__Candidates": "3"}
    )
    assert (config.mqtt.host, config.agent.candidates) == ("b1", 3)


def test_environment_values_that_are_text_stay_text() -> None:
    env = {
        "EDGE_AGENT_MQTT__PROTOCOL": "5",  # JSON would make it the number 5
        "EDGE_AGENT_MQTT__USERNAME": "1234",
        "EDGE_AGENT_MQTT__PASSWORD": "007",
        "EDGE_AGENT_AGENT__AREA": '"null"',  # a JSON string, quoted on purpose
    }
    config = load_config(None, env=env)
    assert config.mqtt.protocol == "5"
    assert config.mqtt.username == "1234"
    assert config.mqtt.password() == "007"
    assert config.agent.area == "null"


def test_environment_null_unsets_and_a_whole_section_is_json(tmp_path: Path) -> None:
    path = write(tmp_path, '[agent]\narea = "Hall"\n')
    env = {
        "EDGE_AGENT_AGENT__AREA": "null",
        "EDGE_AGENT_MQTT": '{"host": "b2", "port": 1999}',
        "EDGE_AGENT_MQTT__PORT": "2000",  # the more specific variable wins
    }
    config = load_config(path, env=env)
    assert config.agent.area is None
    assert (config.mqtt.host, config.mqtt.port) == ("b2", 2000)


def test_other_edge_agent_variables_are_not_settings() -> None:
    config = load_config(None, env={"EDGE_AGENT_CACHE": "/tmp/cache", "PATH": "/bin"})
    assert config == Config()


def test_precedence_defaults_file_environment_flags(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nhost = "from-file"\nport = 1884\nusername = "file-user"\n')
    env = {"EDGE_AGENT_MQTT__PORT": "1885", "EDGE_AGENT_MQTT__USERNAME": "env-user"}
    flags = {"mqtt": {"port": 1886, "username": None}, "agent": {"area": "Hall"}}

    file_only = load_config(path, env={})
    assert (file_only.mqtt.host, file_only.mqtt.port, file_only.mqtt.keepalive_s) == (
        "from-file", 1884, 30,
    )  # fmt: skip
    with_env = load_config(path, env=env)
    assert (with_env.mqtt.host, with_env.mqtt.port) == ("from-file", 1885)
    with_flags = load_config(path, env=env, overrides=flags)
    assert (with_flags.mqtt.host, with_flags.mqtt.port) == ("from-file", 1886)
    # A flag left unset (None) does not hide the value from below.
    assert with_flags.mqtt.username == "env-user"
    assert with_flags.agent.area == "Hall"
    assert flags == {"mqtt": {"port": 1886, "username": None}, "agent": {"area": "Hall"}}


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        ("[mqtt]\nport = 70000\n", {}, "mqtt.port: Input should be less than or equal to 65535"),
        ("", {"EDGE_AGENT_MQTT__PORT": "70000"}, "mqtt.port: Input should be less than or equal"),
        ("", {"EDGE_AGENT_MQTT__PORT": "many"}, "mqtt.port: Input should be a valid integer"),
        ('node_id = "Kitchen Pi"\n', {}, "node_id: String should match pattern"),
        ('[policy]\nout_of_range = "wrap"\n', {}, "policy.out_of_range: Input should be 'clamp'"),
        ('[mqtt]\nprotocol = "4"\n', {}, "mqtt.protocol: Input should be '5' or '3.1.1'"),
        ('[logging]\njournald = "maybe"\n', {}, "logging.journald: Input should be 'auto'"),
        ('[mqtt]\ntasmota_prefix = "tasmota/#"\n', {}, "mqtt.tasmota_prefix: String should"),
        ('[model]\nverify = "never"\n', {}, "model.verify: Input should be 'always', 'first'"),
        ("[mqtt]\nreconnect_min_s = 90.0\n", {}, "mqtt: reconnect_min_s (90) is above"),
        ('[mqtt.tls]\nca_file = "/ca.pem"\n', {}, "mqtt.tls: ca_file set but enabled = false"),
        (
            '[[devices]]\nname = "X"\ndomain = "lamp"\n',
            {},
            "devices[0].domain: Input should be 'light'",
        ),
        (
            '[[devices]]\nname = "X"\ndomain = "light"\ncommands.shine = { topic = "x" }\n',
            {},
            "devices[0].commands.shine: Input should be 'turn_on'",
        ),
    ],
)
def test_invalid_values_name_the_setting(
    tmp_path: Path, toml: str, env: dict[str, str], expected: str
) -> None:
    message = error_of(write(tmp_path, toml), env=env)
    assert message.startswith(expected), message
    assert len(message.splitlines()) == 1


def test_errors_say_where_the_value_came_from(tmp_path: Path) -> None:
    path = write(tmp_path, "[mqtt]\nport = 0\n")
    assert error_of(path, env={}).endswith(f"(in {path})")
    env = {"EDGE_AGENT_MQTT__PORT": "0"}
    assert error_of(path, env=env).endswith("(from $EDGE_AGENT_MQTT__PORT)")
    assert error_of(path, env={}, overrides={"mqtt": {"port": 0}}).endswith(
        "(from the command line)"
    )


def test_every_problem_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nport = 0\n[agent]\ncandidates = 0\nlanguage = "?"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    fields = [problem.split(":")[0] for problem in caught.value.problems]
    assert fields == ["mqtt.port", "agent.candidates", "agent.language"]


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        ("[mqtt]\nportt = 1\n", {}, "mqtt.portt: unknown key; did you mean 'port'?"),
        ("colour = 1\n", {}, "colour: unknown key"),
        ("[mqqt]\nport = 1\n", {}, "mqqt: unknown key; did you mean 'mqtt'?"),
        ("[mqtt.tls]\nenable = true\n", {}, "mqtt.tls.enable: unknown key; did you mean 'enabled'"),
        ("", {"EDGE_AGENT_MQQT__PORT": "1"}, "mqqt: unknown key; did you mean 'mqtt'?"),
        ('[[devices]]\nname = "X"\ndomain = "light"\nroom = "y"\n', {}, "devices[0].room: unknown"),
    ],
)
def test_unknown_keys_are_errors(
    tmp_path: Path, toml: str, env: dict[str, str], expected: str
) -> None:
    message = error_of(write(tmp_path, toml), env=env)
    assert expected in message
    assert "unknown key" in message


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'node_id = "kitchen"\n[mqtt]\nport = = 1884\n')
    message = error_of(path, env={})
    assert message.startswith(f"{path}: line 3: ")


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "no such file"), (b"node_id = '\xff'\n", "not UTF-8 text")],
)
def test_an_unreadable_file_is_named(tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "config.toml"
    if content is not None:
        path.write_bytes(content)
    assert error_of(path, env={}) == f"{path}: {expected}"


def test_an_empty_environment_key_is_an_error() -> None:
    message = error_of(None, env={"EDGE_AGENT_MQTT____PORT": "1"})
    assert message.startswith("$EDGE_AGENT_MQTT____PORT: empty key")


# --- passwords --------------------------------------------------------------------------


def test_password_written_in_the_file_is_kept_out_of_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[mqtt]\npassword = "hunter2"\n'), env={})
    assert config.mqtt.password() == "hunter2"
    assert "hunter2" not in repr(config)


@pytest.mark.parametrize(
    ("content", "password"),
    [(b"s3cret \n", "s3cret "), (b"s3cret\r\n", "s3cret"), (b"s3cret\n\n", "s3cret\n")],
)
def test_password_from_a_file_loses_one_trailing_newline(
    tmp_path: Path, content: bytes, password: str
) -> None:
    (tmp_path / "mqtt-password").write_bytes(content)
    config = load_config(write(tmp_path, '[mqtt]\npassword_file = "mqtt-password"\n'), env={})
    assert config.mqtt.password(env={}) == password


def test_password_from_the_systemd_credentials_directory(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "mqtt-password").write_text("from-systemd\n", encoding="utf-8")
    (tmp_path / "fallback").write_text("from-file\n", encoding="utf-8")
    text = '[mqtt]\npassword_credential = "mqtt-password"\npassword_file = "fallback"\n'
    config = load_config(write(tmp_path, text), env={})
    assert config.mqtt.password(env={"CREDENTIALS_DIRECTORY": str(credentials)}) == "from-systemd"
    # Outside systemd the file is used.
    assert config.mqtt.password(env={}) == "from-file"


def test_a_credential_outside_systemd_without_a_file_is_an_error() -> None:
    mqtt = MqttSettings(password_credential="mqtt-password")
    with pytest.raises(ConfigError, match=r"^mqtt\.password_credential: .*CREDENTIALS_DIRECTORY"):
        mqtt.password(env={})


def test_an_unreadable_password_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError) as caught:
        MqttSettings(password_file=missing).password(env={})
    assert str(caught.value).startswith(f"mqtt.password_file: cannot read {missing}")
    credentials = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "mqtt-password"))):
        MqttSettings(password_credential="mqtt-password").password(env=credentials)


def test_two_passwords_are_refused(tmp_path: Path) -> None:
    text = '[mqtt]\npassword = "a"\npassword_file = "/run/pw"\n'
    message = error_of(write(tmp_path, text), env={})
    assert message.startswith("mqtt: password is set together with password_file")


def test_the_latency_benchmarks_big_home_is_a_valid_config() -> None:
    from edge_agent.latency import extra_devices
    from edge_agent.service import build_registry

    config = load_config(None, overrides={"devices": extra_devices(480)})
    entities = build_registry(config).entities()
    assert len(entities) == 480 == len({e.name for e in entities})
    assert {e.domain for e in entities} == {"light", "switch", "cover", "climate", "fan"}
