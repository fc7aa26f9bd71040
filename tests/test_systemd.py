"""systemd integration: sd_notify datagrams, the watchdog, journald logging, the unit file."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.systemd import (
    JournaldFormatter,
    Notifier,
    Watchdog,
    journald_formatter,
    read_credential,
    setup_daemon_logging,
    stream_is_journal,
    syslog_priority,
)

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "edge-agent.service"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="AF_UNIX abstract")


# --- a notify socket the test owns -----------------------------------------------------------


class Receiver:
    """The service manager's end: a datagram socket the Notifier sends to."""

    def __init__(self, sock: socket.socket, env_value: str) -> None:
        self.sock = sock
        self.env_value = env_value

    def next(self) -> str:
        self.sock.settimeout(5)
        return self.sock.recv(4096).decode()

    def pending(self) -> list[str]:
        self.sock.setblocking(False)
        messages = []
        while True:
            try:
                messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return messages


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    # A short directory: sockaddr_un paths are limited to 107 bytes.
    with tempfile.TemporaryDirectory(prefix="sdn") as folder:
        path = os.path.join(folder, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            yield Receiver(sock, path)


@pytest.fixture
def notifier(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Notifier]:
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.env_value)
    with Notifier() as n:
        yield n


def test_each_message_is_one_exact_datagram(notifier: Notifier, receiver: Receiver) -> None:
    assert notifier.enabled
    notifier.ready()
    assert receiver.next() == "READY=1"
    notifier.status("serving 12 devices")
    assert receiver.next() == "STATUS=serving 12 devices"
    notifier.watchdog()
    assert receiver.next() == "WATCHDOG=1"
    notifier.stopping()
    assert receiver.next() == "STOPPING=1"
    assert notifier.notify("A=1", "B=2")
    assert receiver.next() == "A=1\nB=2"
    assert receiver.pending() == []


def test_combined_and_special_messages(notifier: Notifier, receiver: Receiver) -> None:
    notifier.ready(status="ready: 3 devices")
    assert receiver.next() == "READY=1\nSTATUS=ready: 3 devices"
    notifier.status("two\nlines")  # a newline would start another assignment
    assert receiver.next() == "STATUS=two lines"
    notifier.stopping(status="bye")
    assert receiver.next() == "STOPPING=1\nSTATUS=bye"
    notifier.extend_timeout(2.5)
    assert receiver.next() == "EXTEND_TIMEOUT_USEC=2500000"
    notifier.reloading()
    assert re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+", receiver.next())
    assert receiver.pending() == []


@linux_only
def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"edge-agent-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        with Notifier() as n:
            n.ready()
            assert n.notify("WATCHDOG=1")
        sock.settimeout(5)
        assert sock.recv(4096) == b"READY=1"
        assert sock.recv(4096) == b"WATCHDOG=1"


@pytest.mark.parametrize("value", [None, "", "relative/socket", "vsock:2:1234"])
def test_no_usable_socket_is_a_no_op(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_SOCKET", value)
    with Notifier() as n:
        assert not n.enabled
        n.ready()
        n.status("x")
        n.watchdog()
        n.stopping()
        n.reloading()
        assert not n.notify("READY=1")


def test_send_errors_never_raise_and_log_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge_agent.systemd")
    with Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")}) as n:
        assert n.enabled
        n.ready()
        n.watchdog()
        assert not n.notify("STATUS=x")
    failures = [r for r in caplog.records if "sd_notify" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.DEBUG


def test_manager_going_away_is_survived(receiver: Receiver) -> None:
    with Notifier({"NOTIFY_SOCKET": receiver.env_value}) as n:
        assert n.notify("READY=1")
        receiver.sock.close()
        os.unlink(receiver.env_value)
        n.watchdog()
        assert not n.notify("WATCHDOG=1")


# --- watchdog environment ---------------------------------------------------------------------


def test_watchdog_usec_gives_half_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    n = Notifier()
    assert n.watchdog_timeout() == 30.0
    assert n.watchdog_interval() == 15.0
    mine = Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_interval() == 15.0


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"WATCHDOG_USEC": ""},
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "-5"},
        {"WATCHDOG_USEC": "30s"},
        {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)},
        {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "self"},
    ],
)
def test_watchdog_off(env: dict[str, str]) -> None:
    n = Notifier(env)
    assert n.watchdog_timeout() is None
    assert n.watchdog_interval() is None
    assert Watchdog.from_notifier(n) is None


def test_watchdog_from_notifier() -> None:
    watchdog = Watchdog.from_notifier(Notifier({"WATCHDOG_USEC": "30000000"}))
    assert watchdog is not None
    assert (watchdog.interval, watchdog.max_silence) == (15.0, 30.0)


# --- the watchdog stops pinging when the worker stops beating ---------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class RecordingNotifier(Notifier):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__({})
        self.clock = clock
        self.pings: list[float] = []

    def watchdog(self) -> None:
        self.pings.append(self.clock.now - 100.0)


class _StopError(Exception):
    pass


def test_watchdog_pings_only_while_the_worker_beats(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    watchdog = Watchdog(interval=1.0, max_silence=2.5, clock=clock)
    notifier = RecordingNotifier(clock)
    alive = {*range(4), 10, 11}  # the worker beats at t=0..3, hangs, recovers at t=10

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        if clock.now - 100.0 in alive:
            watchdog.beat()
        if clock.now - 100.0 > 11:
            raise _StopError
        await asyncio.sleep(0)

    async def scenario() -> None:
        watchdog.beat()
        with pytest.raises(_StopError):
            await watchdog.run(notifier, sleep=sleep)

    asyncio.run(scenario())
    # Last beat at t=3: pings up to t=5 (silence 2 <= 2.5), none at t=6..9 (silence > 2.5).
    assert notifier.pings == [0, 1, 2, 3, 4, 5, 10, 11]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "withholding WATCHDOG=1" in errors[0].getMessage()


def test_watchdog_start_counts_as_a_beat() -> None:
    """Loading before READY=1 takes long; the worker gets max_silence from run()'s start."""
    clock = FakeClock()
    watchdog = Watchdog(interval=1.0, max_silence=2.5, clock=clock)
    notifier = RecordingNotifier(clock)
    clock.now += 60

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        if clock.now - 100.0 > 64:
            raise _StopError

    async def scenario() -> None:
        with pytest.raises(_StopError):
            await watchdog.run(notifier, sleep=sleep)

    asyncio.run(scenario())
    assert notifier.pings == [60, 61, 62]  # then silent: the worker never beat


def test_watchdog_with_a_hung_worker_thread(notifier: Notifier, receiver: Receiver) -> None:
    """Real time, a real socket, a worker thread that beats and then hangs: the pings stop."""
    watchdog = Watchdog(interval=0.01, max_silence=0.2)
    stop_beating, hung, release = threading.Event(), threading.Event(), threading.Event()

    def worker() -> None:
        while not stop_beating.is_set():
            watchdog.beat()
            time.sleep(0.002)
        hung.set()
        release.wait()  # stuck, as in a deadlocked generation

    async def scenario() -> tuple[list[str], list[str]]:
        thread = threading.Thread(target=worker)
        thread.start()
        task = asyncio.create_task(watchdog.run(notifier))
        try:
            await asyncio.sleep(0.3)
            while_alive = receiver.pending()
            stop_beating.set()
            while not hung.is_set():
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)  # longer than max_silence: pings must have stopped
            receiver.pending()
            await asyncio.sleep(0.2)
            return while_alive, receiver.pending()
        finally:
            task.cancel()
            release.set()
            thread.join()
            with pytest.raises(asyncio.CancelledError):
                await task

    while_alive, after_hang = asyncio.run(scenario())
    assert while_alive
    assert set(while_alive) == {"WATCHDOG=1"}
    assert after_hang == []


def test_watchdog_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        Watchdog(interval=0, max_silence=1)


# --- credentials ------------------------------------------------------------------------------


def test_read_credential(tmp_path: Path) -> None:
    (tmp_path / "mqtt-password").write_text("s3cret\n")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert read_credential("mqtt-password", env) == "s3cret"
    assert read_credential("other", env) is None
    assert read_credential("mqtt-password", {}) is None
    with pytest.raises(ValueError):
        read_credential("../mqtt-password", env)


# --- journald logging -------------------------------------------------------------------------


def _record(level: int, message: str, exc_info: bool = False) -> logging.LogRecord:
    info = sys.exc_info() if exc_info else None
    return logging.LogRecord("edge_agent.x", level, __file__, 1, message, None, info)


def test_syslog_priorities() -> None:
    assert [
        syslog_priority(level)
        for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG)
    ] == [2, 3, 4, 6, 7]
    assert syslog_priority(logging.INFO + 5) == 6
    assert syslog_priority(5) == 7


def test_journald_prefixes_every_line() -> None:
    formatter = JournaldFormatter()
    assert formatter.format(_record(logging.ERROR, "broker gone")) == "<3>edge_agent.x: broker gone"
    assert formatter.format(_record(logging.WARNING, "w")) == "<4>edge_agent.x: w"
    assert formatter.format(_record(logging.INFO, "i")) == "<6>edge_agent.x: i"
    assert formatter.format(_record(logging.DEBUG, "d")) == "<7>edge_agent.x: d"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        text = formatter.format(_record(logging.ERROR, "failed\nsecond line", exc_info=True))
    lines = text.split("\n")
    assert len(lines) > 3
    assert all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>RuntimeError: boom"


def test_formatter_choice(tmp_path: Path) -> None:
    with open(tmp_path / "stream", "w") as stream:
        info = os.fstat(stream.fileno())
        matching = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        other = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino + 1}"}
        assert stream_is_journal(stream, matching)
        assert isinstance(
            journald_formatter("auto", stream=stream, environ=matching), JournaldFormatter
        )
        for env in (other, {}, {"JOURNAL_STREAM": "garbage"}, {"JOURNAL_STREAM": "1:"}):
            assert not stream_is_journal(stream, env)
            plain = journald_formatter("auto", stream=stream, environ=env)
            assert not isinstance(plain, JournaldFormatter)
    assert not stream_is_journal(io.StringIO(), matching)  # no descriptor: not the journal
    assert isinstance(journald_formatter(True), JournaldFormatter)
    plain_line = journald_formatter(False).format(_record(logging.WARNING, "hot"))
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING edge_agent\.x: hot", plain_line
    )


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_setup_daemon_logging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root_logger: logging.Logger
) -> None:
    with open(tmp_path / "stderr", "w") as stderr:
        info = os.fstat(stderr.fileno())
        monkeypatch.setattr(sys, "stderr", stderr)
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        setup_daemon_logging("info", journald="auto")
        setup_daemon_logging("INFO", journald="auto")  # replaces, does not add
        log = logging.getLogger("edge_agent.test")
        log.warning("too hot")
        log.debug("not shown")
        setup_daemon_logging("debug", journald="no")
        log.debug("plain now")
    lines = (tmp_path / "stderr").read_text().splitlines()
    assert lines[0] == "<4>edge_agent.test: too hot"
    assert re.fullmatch(r"\S+ \S+ DEBUG edge_agent\.test: plain now", lines[1])
    assert len(lines) == 2


def test_setup_daemon_logging_rejects_bad_values(root_logger: logging.Logger) -> None:
    with pytest.raises(ValueError):
        setup_daemon_logging("loud", journald="auto")
    with pytest.raises(ValueError):
        setup_daemon_logging("info", journald="sometimes")


# --- the unit file ----------------------------------------------------------------------------


def _unit_settings(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), "no continuation lines expected"
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_unit_settings() -> None:
    unit = _unit_settings(UNIT.read_text())
    service = {key: values[-1] for key, values in unit["Service"].items()}
    assert service["Type"] == "notify"  # systemd 252: no notify-reload
    assert service["NotifyAccess"] == "main"
    assert service["ExecStart"] == (
        "/opt/edge-agent/venv/bin/edge-agent run --config /etc/edge-agent/config.toml"
    )
    assert service["WatchdogSec"] == "30"
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"] == "5"
    assert service["TimeoutStopSec"] == "10"
    assert "StartLimitBurst" in unit["Unit"]
    assert service["DynamicUser"] == "yes"
    for kind in ("State", "Cache", "Configuration"):
        assert service[f"{kind}Directory"] == "edge-agent"
    assert service["LoadCredential"].startswith("mqtt-password:")
    # /dev/snd must stay visible: no private /dev, a closed device policy that admits ALSA.
    assert service.get("PrivateDevices", "no") == "no"
    assert service["DevicePolicy"] == "closed"
    assert unit["Service"]["DeviceAllow"] == ["char-alsa rw"]
    assert "audio" in service["SupplementaryGroups"].split()
    assert set(service["RestrictAddressFamilies"].split()) >= {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert service["UMask"] == "0077"
    # The daemon's watchdog (half of WatchdogSec=) fits the unit.
    notifier = Notifier({"WATCHDOG_USEC": str(int(service["WatchdogSec"]) * 1_000_000)})
    assert notifier.watchdog_interval() == 15.0


def _verifiable_copy(folder: Path, text: str) -> Path:
    """The unit with ExecStart's program replaced by one that exists here (verify checks it)."""
    true = shutil.which("true") or "/bin/true"
    copy, count = re.subn(r"(?m)^ExecStart=\S+", f"ExecStart={true}", text)
    assert count == 1
    path = folder / "edge-agent.service"
    path.write_text(copy)
    return path


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    program = shutil.which("systemd-analyze")
    if program is None:
        pytest.skip("systemd-analyze is not installed (Debian/Raspberry Pi OS package: systemd)")
    return subprocess.run(
        [program, *args], capture_output=True, text=True, timeout=120, check=False
    )


def _complaints(result: subprocess.CompletedProcess[str]) -> list[str]:
    # verify exits 0 even for unknown keys and unparsable values; it only says so.
    output = (result.stdout + result.stderr).splitlines()
    return [line for line in output if "edge-agent.service" in line]


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    result = _analyze("verify", "--man=no", str(_verifiable_copy(tmp_path, UNIT.read_text())))
    assert result.returncode == 0, result.stdout + result.stderr
    assert _complaints(result) == []


def test_systemd_analyze_verify_notices_mistakes(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("WatchdogSec=30", "WatchdogSec=thirty")
    broken = broken.replace("DeviceAllow=", "DeviceAlow=")
    result = _analyze("verify", "--man=no", str(_verifiable_copy(tmp_path, broken)))
    complaints = "\n".join(_complaints(result))
    assert "thirty" in complaints
    assert "DeviceAlow" in complaints


def test_sandbox_exposure(tmp_path: Path) -> None:
    """systemd-analyze security rates the sandbox: keep it at 2.0 or below ("OK")."""
    if "--offline" not in _analyze("security", "--help").stdout:
        pytest.skip("systemd-analyze security has no --offline (systemd < 250)")
    unit = _verifiable_copy(tmp_path, UNIT.read_text())
    result = _analyze("security", "--offline=yes", "--threshold=20", "--no-pager", str(unit))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
