"""systemd integration for the ``edge-agent run`` daemon: sd_notify, a watchdog, journald logging.

Standard library only. The notify protocol is one AF_UNIX datagram per message, sent to the
socket named by ``$NOTIFY_SOCKET`` (sd_notify(3)); libsystemd is not needed for that.

Typical use in the daemon::

    notifier = Notifier()                      # no-op outside systemd
    setup_daemon_logging("info", journald="auto")
    watchdog = Watchdog.from_notifier(notifier)  # None unless WatchdogSec= is set
    ...load the bundle, connect to the broker...
    notifier.ready(status="serving 12 devices")
    if watchdog is not None:
        pinger = asyncio.create_task(watchdog.run(notifier))
    ...the worker calls watchdog.beat() whenever it makes progress or wakes from an idle wait...
    notifier.stopping()
    pinger.cancel()

Every method of :class:`Notifier` swallows send errors: a daemon must never die because the
service manager went away (it logs the first failure at debug level).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Literal, TextIO

__all__ = [
    "JournaldFormatter",
    "Notifier",
    "Watchdog",
    "journald_formatter",
    "read_credential",
    "setup_daemon_logging",
    "stream_is_journal",
    "syslog_priority",
]

_log = logging.getLogger(__name__)

_SEND_TIMEOUT_S = 1.0  # the manager's socket has a large queue; never wait on it for long


def _notify_address(value: str) -> bytes | None:
    """The sockaddr_un path for a ``$NOTIFY_SOCKET`` value, or None if unusable.

    ``/path`` is a socket in the file system; ``@name`` is in the abstract namespace (a
    leading NUL byte). Other forms (relative paths, ``vsock:`` of systemd 253+) are not
    supported here.
    """
    if value.startswith("/"):
        return os.fsencode(value)
    if value.startswith("@"):
        return b"\0" + os.fsencode(value[1:])
    return None


def _decimal(raw: str | None) -> int | None:
    """A non-negative decimal number written with ASCII digits only, else None."""
    if raw is None or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)


def _positive_int(raw: str | None) -> int | None:
    number = _decimal(raw)
    return number if number else None


class Notifier:
    """Sends sd_notify(3) messages to the service manager, if there is one.

    The environment is read once, when the object is made (``environ`` defaults to
    ``os.environ``). Each method sends one datagram; none raises (:meth:`notify` returns
    whether it was sent). Without ``$NOTIFY_SOCKET`` every method is a no-op.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw_socket = env.get("NOTIFY_SOCKET", "")
        self._address = _notify_address(raw_socket)
        if raw_socket and self._address is None:
            _log.debug("NOTIFY_SOCKET=%r is not a path or an abstract socket; ignored", raw_socket)
        self._watchdog_usec = _positive_int(env.get("WATCHDOG_USEC"))
        self._watchdog_pid = env.get("WATCHDOG_PID")
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._failure_logged = False

    @property
    def enabled(self) -> bool:
        """Whether a notify socket was given (the process runs under a Type=notify unit)."""
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` assignments as one datagram; True if it was sent."""
        if self._address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8", "replace")
        try:
            with self._lock:
                if self._socket is None:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # close-on-exec
                    sock.settimeout(_SEND_TIMEOUT_S)
                    self._socket = sock
                self._socket.sendto(payload, self._address)
        except OSError as exc:
            if not self._failure_logged:
                self._failure_logged = True
                _log.debug(
                    "sd_notify to %r failed (further failures not logged): %s", self._address, exc
                )
            return False
        return True

    def ready(self, status: str | None = None) -> None:
        """``READY=1``: start-up finished (Type=notify); optionally with a status line."""
        self.notify("READY=1", *_optional_status(status))

    def status(self, text: str) -> None:
        """``STATUS=...``: a one-line state shown by ``systemctl status``."""
        self.notify(_status(text))

    def watchdog(self) -> None:
        """``WATCHDOG=1``: the keep-alive ping (prefer :class:`Watchdog` over calling this)."""
        self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> None:
        """``STOPPING=1``: shutdown has begun."""
        self.notify("STOPPING=1", *_optional_status(status))

    def reloading(self) -> None:
        """``RELOADING=1`` (send :meth:`ready` when done). MONOTONIC_USEC is what systemd 253+
        wants with it for Type=notify-reload; systemd 252 ignores it."""
        self.notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def extend_timeout(self, seconds: float) -> None:
        """``EXTEND_TIMEOUT_USEC=``: ask for more time to start or stop (a slow first load)."""
        self.notify(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1_000_000))}")

    def watchdog_timeout(self) -> float | None:
        """The unit's WatchdogSec= in seconds, or None if this process need not ping.

        From ``$WATCHDOG_USEC``; when ``$WATCHDOG_PID`` is set it must be this process's id
        (a child that inherited the environment must not ping), as sd_watchdog_enabled(3).
        """
        if self._watchdog_usec is None:
            return None
        if self._watchdog_pid is not None and _positive_int(self._watchdog_pid) != os.getpid():
            return None
        return self._watchdog_usec / 1_000_000

    def watchdog_interval(self) -> float | None:
        """How often to send ``WATCHDOG=1``: half the timeout, as sd_watchdog_enabled(3)
        recommends; None when the watchdog is off."""
        timeout = self.watchdog_timeout()
        return None if timeout is None else timeout / 2

    def close(self) -> None:
        """Close the sending socket (a later message opens a new one)."""
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _status(text: str) -> str:
    # Each line of a datagram is one assignment: a newline would start a new one.
    return "STATUS=" + " ".join(text.splitlines())


def _optional_status(text: str | None) -> tuple[str, ...]:
    return () if text is None else (_status(text),)


class Watchdog:
    """Sends ``WATCHDOG=1`` only while the worker shows signs of life.

    The worker (the loop that runs the model and handles requests, in any thread) calls
    :meth:`beat` whenever it makes progress or wakes from an idle wait. :meth:`run`, an
    asyncio task, pings every ``interval`` seconds if the last beat is at most ``max_silence``
    seconds old. A hung worker therefore stops the pings, and systemd kills and restarts the
    service once WatchdogSec= passes without one: a hang is noticed at most
    ``max_silence + WatchdogSec`` after the last beat. The worker must beat more often than
    ``max_silence`` even when idle (e.g. wait on its queue with a timeout shorter than that).
    """

    def __init__(
        self,
        interval: float,
        max_silence: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0 or max_silence <= 0:
            raise ValueError("interval and max_silence must be positive")
        self.interval = interval
        self.max_silence = max_silence
        self._clock = clock
        self._last_beat = clock()
        self._stalled = False

    @classmethod
    def from_notifier(
        cls, notifier: Notifier, *, clock: Callable[[], float] = time.monotonic
    ) -> Watchdog | None:
        """Ping at half of WatchdogSec=, tolerate a worker silent for up to WatchdogSec=;
        None when the unit has no watchdog."""
        timeout = notifier.watchdog_timeout()
        if timeout is None:
            return None
        return cls(interval=timeout / 2, max_silence=timeout, clock=clock)

    def beat(self) -> None:
        """The worker is alive (cheap; safe to call from any thread)."""
        self._last_beat = self._clock()

    def silence(self) -> float:
        """Seconds since the last beat."""
        return self._clock() - self._last_beat

    def healthy(self) -> bool:
        return self.silence() <= self.max_silence

    def check(self, notifier: Notifier) -> bool:
        """Ping once if the worker is healthy; returns whether it was healthy."""
        if self.healthy():
            if self._stalled:
                self._stalled = False
                _log.warning("worker alive again; watchdog pings resumed")
            notifier.watchdog()
            return True
        if not self._stalled:
            self._stalled = True
            _log.error(
                "worker silent for %.1f s (limit %.1f s): withholding WATCHDOG=1 so that "
                "systemd restarts the service",
                self.silence(),
                self.max_silence,
            )
        return False

    async def run(
        self,
        notifier: Notifier,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Check now and then every ``interval`` seconds, until cancelled.

        Starting counts as a beat, so time spent loading before the task starts (systemd's
        watchdog only runs after READY=1) is not held against the worker.
        """
        self.beat()
        while True:
            self.check(notifier)
            await sleep(self.interval)


def read_credential(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The text of credential ``name`` from ``$CREDENTIALS_DIRECTORY`` (LoadCredential=), one
    trailing newline removed; None when there is no such credential."""
    if not name or "/" in name or name in {".", ".."}:
        raise ValueError(f"not a credential name: {name!r}")
    env = os.environ if environ is None else environ
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    try:
        text = (Path(directory) / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return text.removesuffix("\n").removesuffix("\r")


# --- logging ---------------------------------------------------------------------------------

_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level: 2 crit, 3 err, 4 warning, 6 info, 7 debug."""
    for threshold, priority in _PRIORITIES:
        if levelno >= threshold:
            return priority
    return 7


class JournaldFormatter(logging.Formatter):
    """Prefixes every line with ``<N>``, the syslog priority (sd-daemon(3)), so that journald
    records each line (a traceback's too) at the record's level. No timestamp: the journal
    has its own."""

    def __init__(self, fmt: str = "%(name)s: %(message)s") -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def stream_is_journal(
    stream: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether ``stream`` (default: stderr) is the journal stream systemd connected.

    systemd.exec(5): ``$JOURNAL_STREAM`` is ``<device>:<inode>`` of that connection, and
    being set is not enough, since a child may have redirected its output and kept the
    variable: compare it with the stream's own file descriptor.
    """
    env = os.environ if environ is None else environ
    device, _, inode = env.get("JOURNAL_STREAM", "").partition(":")
    expected = (_decimal(device), _decimal(inode))
    if None in expected:
        return False
    target = sys.stderr if stream is None else stream
    try:
        info = os.fstat(target.fileno())
    except (AttributeError, ValueError, OSError):  # no real descriptor (captured, closed)
        return False
    return (info.st_dev, info.st_ino) == expected


def journald_formatter(
    enabled: bool | Literal["auto"] = "auto",
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> logging.Formatter:
    """A :class:`JournaldFormatter` when ``enabled`` (``"auto"``: when ``stream``, default
    stderr, is systemd's journal stream), else a plain timestamped formatter."""
    if enabled == "auto":
        enabled = stream_is_journal(stream, environ)
    return JournaldFormatter() if enabled else logging.Formatter(PLAIN_FORMAT)


_BOOLEANS = {"yes": True, "true": True, "on": True, "1": True}
_BOOLEANS |= {"no": False, "false": False, "off": False, "0": False}
_HANDLER_NAME = "edge-agent-daemon"


def setup_daemon_logging(level: str, journald: bool | str = "auto") -> None:
    """Log to stderr at ``level`` (a logging level name, any case), formatted for the journal
    or plainly (``journald``: True, False, ``"auto"``, or yes/no/true/false/on/off/1/0).

    Calling it again replaces the handler it installed before; other handlers are kept.
    """
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level: {level!r}")
    mode: bool | Literal["auto"]
    if isinstance(journald, bool):
        mode = journald
    elif journald.lower() == "auto":
        mode = "auto"
    elif journald.lower() in _BOOLEANS:
        mode = _BOOLEANS[journald.lower()]
    else:
        raise ValueError(f"journald must be a boolean or 'auto', not {journald!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(journald_formatter(mode, stream=sys.stderr))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
