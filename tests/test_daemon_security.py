"""TLS with a test CA, passwords, and the watchdog, against a real mosquitto."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from mqtt_broker import find_mosquitto, free_port, port_open
from test_daemon import BASE, CountingHandler, Running

from edge_agent.daemon import Daemon, DaemonSettings
from edge_agent.transports.mqtt import LinkSettings

pytestmark = pytest.mark.skipif(
    find_mosquitto() is None or shutil.which("openssl") is None
    or shutil.which("mosquitto_passwd") is None,
    reason="needs mosquitto, mosquitto_passwd and openssl (apt-get install mosquitto openssl)",
)  # fmt: skip


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def secure_broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    """mosquitto with a TLS listener signed by a test CA and a password file."""
    _run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=edge-agent test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=tmp_path,
    )
    _run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=tmp_path,
    )
    (tmp_path / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _run(
        "openssl",
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
        cwd=tmp_path,
    )
    _run("mosquitto_passwd", "-b", "-c", "passwords", "agent", "s3cret", cwd=tmp_path)  # fmt: skip
    port = free_port()
    (tmp_path / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {tmp_path}/passwords\ncafile {tmp_path}/ca.crt\n"
        f"certfile {tmp_path}/server.crt\nkeyfile {tmp_path}/server.key\n"
        "persistence false\nuser root\n"
    )
    process = subprocess.Popen([str(find_mosquitto()), "-c", str(tmp_path / "mosquitto.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 5
    while not port_open(port):
        assert time.monotonic() < deadline and process.poll() is None, "mosquitto did not start"
        time.sleep(0.05)
    yield tmp_path, port
    process.terminate()
    process.wait(5)


def _daemon(folder: Path, port: int, password: str) -> tuple[Daemon, CountingHandler]:
    handler = CountingHandler()
    link = LinkSettings(host="localhost", port=port, client_id="secure-agent", username="agent",
                        password=password, tls=True, ca_file=str(folder / "ca.crt"),
                        reconnect_min_s=1, reconnect_max_s=2)  # fmt: skip
    return Daemon(DaemonSettings(node_id="test"), link, handler.registry, lambda: handler), handler


def test_tls_with_a_test_ca_and_a_password(secure_broker: tuple[Path, int]) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    folder, port = secure_broker
    daemon, handler = _daemon(folder, port, "s3cret")
    running = Running(daemon)
    running.thread.start()
    got: list[bytes] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.username_pw_set("agent", "s3cret")
    client.tls_set(ca_certs=str(folder / "ca.crt"))
    client.on_message = lambda c, u, m: got.append(m.payload)
    client.connect("localhost", port)
    client.loop_start()
    try:
        deadline = time.monotonic() + 15
        while not (hasattr(daemon, "link") and daemon.link.connected.is_set()):
            assert time.monotonic() < deadline, "the agent never connected over TLS"
            time.sleep(0.05)
        client.subscribe(f"{BASE}/response", qos=1)
        time.sleep(0.3)
        client.publish(f"{BASE}/request", json.dumps({"id": "tls", "text": "light on"}), qos=1)
        while not got:
            assert time.monotonic() < deadline + 10, "no answer over TLS"
            time.sleep(0.05)
        assert json.loads(got[0])["id"] == "tls" and handler.calls == ["tls"]
    finally:
        client.loop_stop()
        client.disconnect()
        running.stop()
    assert running.code == 0


def test_a_wrong_password_is_reported_and_retried_without_a_crash(
    secure_broker: tuple[Path, int], caplog: pytest.LogCaptureFixture
) -> None:
    folder, port = secure_broker
    daemon, _ = _daemon(folder, port, "wrong")
    running = Running(daemon)
    running.thread.start()
    time.sleep(4)  # at least two refused attempts
    assert running.thread.is_alive()
    assert not daemon.link.connected.is_set()
    refused = [r for r in caplog.records if "refused the connection" in r.getMessage()]
    assert len(refused) >= 2, [r.getMessage() for r in caplog.records]
    assert "authori" in refused[0].getMessage().lower()  # "Not authorized" / "Bad user name..."
    running.stop()


def test_a_hung_worker_stops_the_watchdog_pings(tmp_path: Path) -> None:  # noqa: PLR0915
    """A daemon whose model hangs on a request stops feeding WATCHDOG=1 to a notify socket
    the test owns, while the loop itself stays responsive."""
    from mqtt_broker import Broker, MqttClient

    from edge_agent.systemd import Notifier, Watchdog

    broker = Broker(tmp_path / "broker", str(find_mosquitto()))
    broker.folder.mkdir()
    broker.start()
    path = tmp_path / "notify"
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(path))
    sink.settimeout(0.1)
    notifier = Notifier({"NOTIFY_SOCKET": str(path)})
    watchdog = Watchdog(interval=0.25, max_silence=2.0)
    hang = threading.Event()
    handler = CountingHandler(gate=hang)  # blocks until released
    link = LinkSettings(host=broker.host, port=broker.port, client_id="watched")
    daemon = Daemon(DaemonSettings(node_id="test"), link, handler.registry, lambda: handler,
                    notifier=notifier, beat=watchdog.beat)  # fmt: skip

    async def main() -> None:
        pinger = asyncio.create_task(watchdog.run(notifier))
        try:
            await daemon.run()
        finally:
            pinger.cancel()

    running = Running(daemon)
    running._run = lambda: running.loop.run_until_complete(main())  # type: ignore[method-assign]
    running.thread = threading.Thread(target=running._run, daemon=True)
    running.thread.start()

    def pings(seconds: float) -> list[bytes]:
        got, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                message = sink.recv(200)
            except TimeoutError:
                continue
            got.append(message)
        return got

    try:
        assert b"READY=1" in pings(3.0)
        assert pings(1.5).count(b"WATCHDOG=1") >= 3  # idle but healthy
        client = MqttClient(broker, "tester").connect()
        client.publish(f"{BASE}/request", json.dumps({"id": "hang", "text": "light on"}))
        time.sleep(2.5)  # the worker is stuck past max_silence
        assert "hang" in daemon._in_flight, "the request never reached the worker"
        pings(0.3)  # drop what was sent before the hang was noticed
        assert b"WATCHDOG=1" not in pings(2.0)
        hang.set()  # unstuck: pings come back
        assert pings(2.0).count(b"WATCHDOG=1") >= 2
        client.close()
    finally:
        hang.set()
        running.loop.call_soon_threadsafe(daemon.stop)
        running.thread.join(10)
        running.loop.close()
        notifier.close()
        sink.close()
        broker.stop()
