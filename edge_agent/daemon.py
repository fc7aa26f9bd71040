"""``edge-agent run``: the agent as a service on MQTT.

One asyncio loop owns the registry and the request queue; paho's network thread only
hands it events, and the model runs in one worker thread, one request at a time. The
queue is bounded: a request that does not fit gets ``busy`` at once. A request id seen
again (QoS 1 redelivery) is answered again from a small cache and never executed twice.
While the broker is away, accepted requests wait in the queue; when it is back, a
request older than ``message_expiry_s`` is answered ``expired`` instead of acting on
the world late.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from edge_agent.devices.registry import Registry
from edge_agent.messages import ErrorInfo, Request, RequestError, Response, parse_request
from edge_agent.transports.mqtt import Connected, Disconnected, Inbound, LinkSettings, MqttLink

log = logging.getLogger(__name__)

STOP_GRACE_S = 4.0
"""On SIGTERM: how long requests in flight may take before the rest are answered."""

REFUSAL_BACKLOG = 100
"""Unacknowledged outgoing messages above which refusals (error and busy answers to
requests that were not accepted) are dropped unsent: a flood of garbage must not be
amplified into a flood of answers, nor crowd out the answers to accepted requests."""


class Handler(Protocol):
    def handle(self, request: Request) -> Response: ...


class Notifier(Protocol):
    def ready(self) -> None: ...
    def status(self, text: str) -> None: ...
    def stopping(self) -> None: ...


class _Silent:
    def ready(self) -> None:
        pass

    def status(self, text: str) -> None:
        pass

    def stopping(self) -> None:
        pass


@dataclass(frozen=True)
class DaemonSettings:
    node_id: str
    base_topic: str = "edge-agent"
    queue_size: int = 16
    dedupe_size: int = 256
    message_expiry_s: int = 60
    shared_group: str | None = None
    homeassistant_prefix: str = "homeassistant"
    publish_discovery: bool = True
    area: str | None = None
    max_request_chars: int = 500

    @property
    def base(self) -> str:
        return f"{self.base_topic}/{self.node_id}"


@dataclass
class _Job:
    request: Request
    reply_to: str
    correlation: bytes | None
    received: float = field(default_factory=time.monotonic)


class Daemon:
    def __init__(
        self,
        settings: DaemonSettings,
        link_settings: LinkSettings,
        registry: Registry,
        load_handler: Callable[[], Handler],
        *,
        notifier: Notifier | None = None,
        beat: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.link_settings = link_settings
        self.registry = registry
        self._load_handler = load_handler
        self._notifier = notifier or _Silent()
        self._beat = beat
        self._answers: OrderedDict[str, Response] = OrderedDict()
        self._in_flight: dict[str, list[_Job]] = {}
        """Request id -> redeliveries that arrived while it ran (answered with it)."""
        self._undelivered: list[tuple[_Job, Response]] = []
        self.unanswered = 0
        """Refusals dropped unsent because the outgoing queue was full."""
        self._unanswered_logged = 0.0
        self._stop = asyncio.Event()
        self._reload_wanted = False
        self.reloads = 0
        """Handlers loaded again on request (SIGHUP) and taken into use."""

    @property
    def request_topic(self) -> str:
        topic = f"{self.settings.base}/request"
        group = self.settings.shared_group
        return f"$share/{group}/{topic}" if group else topic

    def stop(self) -> None:
        self._stop.set()

    def reload(self) -> None:
        """Load the model again (``current`` may point at a new bundle) before the next
        request; the old one keeps serving if the new one does not load."""
        self._reload_wanted = True

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
                loop.add_signal_handler(sig, self.stop)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        events: asyncio.Queue[Inbound | Connected | Disconnected] = asyncio.Queue()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=self.settings.queue_size)
        self.link = MqttLink(
            LinkSettings(
                **{**self.link_settings.__dict__, "will_topic": f"{self.settings.base}/status"}
            ),
            loop,
            events,
        )
        self.link.subscribe([self.request_topic, *self.registry.subscriptions()])
        if self.settings.publish_discovery:
            self.link.subscribe([f"{self.settings.homeassistant_prefix}/status"])
        self._notifier.status("loading the model and connecting to the broker")
        self.link.start()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-agent-model")
        try:
            handler = await loop.run_in_executor(executor, self._load_handler)
            dispatcher = asyncio.create_task(self._dispatch(events))
            await self._wait_connected()
            self._notifier.ready()
            self._notifier.status(f"serving {self.settings.base}/request")
            log.info("ready: %s", self.settings.base)
            worker = asyncio.create_task(self._work(handler, executor))
            await self._stop.wait()
            self._notifier.stopping()
            await self._drain(worker)
            dispatcher.cancel()
            self.link.publish(f"{self.settings.base}/status", "offline", retain=True)
            await asyncio.sleep(0.2)  # let paho send it before the disconnect
        finally:
            self.link.stop(end_session=self.settings.shared_group is not None)
            executor.shutdown(wait=False, cancel_futures=True)
        return 0

    async def _wait_connected(self) -> None:
        while not self.link.connected.is_set() and not self._stop.is_set():
            self._beat()
            await asyncio.sleep(0.1)

    # -- events from the broker ---------------------------------------------------------

    async def _dispatch(self, events: asyncio.Queue[Inbound | Connected | Disconnected]) -> None:
        while True:
            event = await events.get()
            try:
                self._on_event(event)
            except Exception:  # one strange message must not stop the agent
                log.exception("while handling %r", event)

    def _on_event(self, event: Inbound | Connected | Disconnected) -> None:
        if isinstance(event, Connected):
            log.info("connected (session present: %s)", event.session_present)
            self.link.publish(f"{self.settings.base}/status", "online", retain=True)
            self._publish_discovery()
            for job, response in self._undelivered:
                self._reply(job, response)
            self._undelivered.clear()
        elif isinstance(event, Disconnected):
            log.warning("disconnected from the broker (%s); reconnecting", event.reason)
            self._notifier.status("broker unreachable; reconnecting")
        elif _matches(self.request_topic, event.topic):
            self._accept(event)
        elif event.topic == f"{self.settings.homeassistant_prefix}/status":
            if event.payload.strip() == b"online":
                self._publish_discovery()
        else:
            version = self.registry.version
            self.registry.handle(event.topic, event.payload)
            if self.registry.version != version:
                self.link.subscribe(self.registry.subscriptions())

    def _accept(self, event: Inbound) -> None:
        reply_to = event.response_topic or f"{self.settings.base}/response"
        try:
            request = parse_request(event.payload, self.settings.max_request_chars)
        except RequestError as error:
            response = Response(
                id=error.request_id,
                status="error",
                text=str(error),
                error=ErrorInfo(code=error.code, message=str(error)),
            )
            self._refuse(_Job(Request(text=""), reply_to, event.correlation), response)
            return
        if request.context.area is None and self.settings.area:
            request.context.area = self.settings.area
        if request.id is None:
            request.id = uuid.uuid4().hex[:12]
        job = _Job(request, reply_to, event.correlation)
        if request.id in self._answers:  # redelivered: answer again, never act again
            self._reply(job, self._answers[request.id])
            return
        if request.id in self._in_flight:
            self._in_flight[request.id].append(job)
            return
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            busy = Response(
                id=request.id,
                status="busy",
                text="I'm busy with other requests; try again in a moment.",
                error=ErrorInfo(code="busy", message="the request queue is full"),
            )
            self._refuse(job, busy)
            return
        self._in_flight[request.id] = []

    # -- the worker -----------------------------------------------------------------------

    async def _work(self, handler: Handler, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                job = await asyncio.wait_for(self._queue.get(), timeout=1.0)
            except TimeoutError:
                self._beat()  # idle, not hung
                if self._reload_wanted:
                    handler = await self._reloaded(handler, executor)
                continue
            self._beat()
            if self._reload_wanted:
                handler = await self._reloaded(handler, executor)
            await self._wait_connected()
            await self._wait_for_room()
            waited = time.monotonic() - job.received
            if waited > self.settings.message_expiry_s:
                response = Response(
                    id=job.request.id,
                    status="error",
                    text="The request waited too long and was not carried out.",
                    error=ErrorInfo(code="expired", message=f"{waited:.0f} s old"),
                )
            else:
                response = await loop.run_in_executor(executor, handler.handle, job.request)
            response.timings_ms["queue"] = round(waited * 1000, 1)
            self._finish(job, response)
            self._beat()

    async def _reloaded(self, handler: Handler, executor: ThreadPoolExecutor) -> Handler:
        self._reload_wanted = False
        self._notifier.status("reloading the model")
        try:
            new = await asyncio.get_running_loop().run_in_executor(executor, self._load_handler)
        except Exception as error:  # a bad bundle must not take the service down
            log.error("reload failed, keeping the model in use: %s", error)
            self._notifier.status(f"reload failed: {error}")
            return handler
        self.reloads += 1
        log.info("model reloaded")
        self._notifier.status(f"serving {self.settings.base}/request")
        return new

    def _finish(self, job: _Job, response: Response) -> None:
        started = time.perf_counter()
        expiry = self.settings.message_expiry_s
        for action in response.actions:
            if not self.link.publish(
                action.topic, action.payload, qos=1, retain=False, expiry_s=expiry
            ):
                log.warning("could not publish %s (broker away): dropped", action.topic)
        response.timings_ms["publish"] = round((time.perf_counter() - started) * 1000, 1)
        request_id = job.request.id or ""
        again = self._in_flight.pop(request_id, [])
        self._answers[request_id] = response
        while len(self._answers) > self.settings.dedupe_size:
            self._answers.popitem(last=False)
        for waiting in [job, *again]:
            self._reply(waiting, response)
        self._publish_state(job.request, response)

    def _refuse(self, job: _Job, response: Response) -> None:
        if self.link.backlog < REFUSAL_BACKLOG:
            self._reply(job, response)
            return
        self.unanswered += 1
        now = time.monotonic()
        if now - self._unanswered_logged > 10:
            self._unanswered_logged = now
            log.warning("outgoing queue full: %d refused requests dropped without an answer "
                        "so far", self.unanswered)  # fmt: skip

    async def _wait_for_room(self) -> None:
        """Backpressure: a job's commands and answer go out only once the broker has taken
        most of what was sent before (refusals included)."""
        deadline = time.monotonic() + 10
        while self.link.backlog >= REFUSAL_BACKLOG and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def _reply(self, job: _Job, response: Response) -> None:
        payload = response.model_dump_json(exclude_none=True)
        if not self.link.publish(job.reply_to, payload, qos=1, correlation=job.correlation):
            self._undelivered.append((job, response))
            del self._undelivered[:-64]

    async def _drain(self, worker: asyncio.Task[None]) -> None:
        deadline = time.monotonic() + STOP_GRACE_S
        while (self._in_flight or not self._queue.empty()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        worker.cancel()
        while not self._queue.empty():
            job = self._queue.get_nowait()
            self._reply(
                job,
                Response(
                    id=job.request.id,
                    status="error",
                    text="The agent is restarting; please ask again.",
                    error=ErrorInfo(code="stopping", message="shutting down"),
                ),
            )

    # -- what the agent says about itself ---------------------------------------------------

    def _publish_state(self, request: Request, response: Response) -> None:
        total = sum(v for k, v in response.timings_ms.items() if k != "queue")
        state = {
            "last_request": request.text[:255],
            "last_reply": response.text[:255],
            "latency_ms": round(total + response.timings_ms.get("queue", 0.0)),
        }
        self.link.publish(f"{self.settings.base}/state", json.dumps(state), retain=True)

    def _publish_discovery(self) -> None:
        if not self.settings.publish_discovery:
            return
        node, base = self.settings.node_id, self.settings.base
        device = {
            "identifiers": [f"edge_agent_{node}"],
            "name": f"edge-agent {node}",
            "manufacturer": "edge-agent",
            "model": "local agent",
        }
        sensors = {
            "status": {"name": "Status", "state_topic": f"{base}/status"},
            "last_request": {"name": "Last request", "value_template": _value("last_request")},
            "last_reply": {"name": "Last reply", "value_template": _value("last_reply")},
            "latency": {
                "name": "Latency",
                "value_template": _value("latency_ms"),
                "unit_of_measurement": "ms",
                "state_class": "measurement",
            },
        }
        for key, extra in sensors.items():
            config = {
                "unique_id": f"edge_agent_{node}_{key}",
                "state_topic": f"{base}/state",
                "availability_topic": f"{base}/status",
                "device": device,
                **extra,
            }
            topic = f"{self.settings.homeassistant_prefix}/sensor/edge_agent_{node}/{key}/config"
            self.link.publish(topic, json.dumps(config), retain=True)


def _value(key: str) -> str:
    return "{{ value_json." + key + " }}"


def _matches(subscription: str, topic: str) -> bool:
    if subscription.startswith("$share/"):
        subscription = subscription.split("/", 2)[2]
    return subscription == topic
