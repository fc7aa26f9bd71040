"""One voice conversation loop: utterances in, wake word, recognition, the agent, the reply.

Where the agent sits is a callable (``ask``): the daemon's satellite sends the text as an
MQTT request to the agent's own request topic, ``edge-agent listen`` calls the planner.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edge_agent.devices.model import Entity
from edge_agent.messages import Response
from edge_agent.voice.phrases import build_grammar, spoken, words_to_digits
from edge_agent.voice.recognizers import Heard, Recognizer
from edge_agent.voice.vad import Endpointer, Utterance

log = logging.getLogger(__name__)

PAUSE_FRAMES = 3
"""After this much silence (90 ms) the recognizer does its end-of-utterance work while the
endpointer waits out the rest of its silence (300 ms), so that the end of an utterance
costs little more than that wait. A pause that is not the end wastes that work (at most a
whole-utterance pass, and only when the live pass has no command so far)."""


class DeviceSource(Protocol):
    """What the session needs of the registry: its devices, and a version that changes
    with them (the grammar is rebuilt when it does)."""

    @property
    def version(self) -> int: ...

    def entities(self) -> list[Entity]: ...


@dataclass
class VoiceSettings:
    wake: str | None = "hey computer"
    """Phrase that must start a request (None: every utterance is a request)."""
    listen_after_wake_s: float = 6.0
    """After the wake phrase alone, how long the next utterance counts as the request."""
    refractory_s: float = 1.0
    """After a reply is spoken, utterances are ignored this long (its echo, say)."""
    stop_word: str = "stop"
    area: str | None = None
    push_to_talk: bool = False
    """Only an opened window (``open_window``: a button, an MQTT trigger) makes an utterance
    a request; no wake phrase is listened for."""


@dataclass
class Turn:
    """What happened to one utterance, for logs, tests and the ``heard`` topic."""

    heard: Heard
    outcome: str
    """request | wake | not_addressed | rejected | silence | stopped | ignored"""
    request: str | None = None
    response: Response | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "heard": self.heard.text,
            "accepted": self.heard.accepted,
            "outcome": self.outcome,
            "request": self.request,
            "timings_ms": self.timings_ms,
        }


class Speaker:
    """Replies spoken with espeak-ng (or another command reading text on stdin), in the
    background so that "stop" can cut them short."""

    def __init__(self, command: list[str] | None = None) -> None:
        binary = shutil.which("espeak-ng")
        self.command = command or ([binary, "--stdin"] if binary else None)
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.finished_at = 0.0

    @property
    def speaking(self) -> bool:
        with self._lock:
            return self._process is not None and self._process.poll() is None

    def say(self, text: str) -> None:
        if not self.command or not text:
            return
        with self._lock:
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            process = self._process
        assert process.stdin is not None
        process.stdin.write(text.encode("utf-8"))
        process.stdin.close()
        threading.Thread(target=self._wait, args=(process,), daemon=True).start()

    def _wait(self, process: subprocess.Popen[bytes]) -> None:
        process.wait()
        self.finished_at = time.monotonic()

    def stop(self) -> None:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                self._process.terminate()


class VoiceSession:
    def __init__(
        self,
        recognizer: Recognizer,
        registry: DeviceSource,
        ask: Callable[[str, str | None], Response | None],
        settings: VoiceSettings | None = None,
        speaker: Speaker | None = None,
    ) -> None:
        self.recognizer = recognizer
        self.registry = registry
        self.ask = ask
        self.settings = settings or VoiceSettings()
        self.speaker = speaker
        self._grammar_version = -2
        self._awake_until = 0.0
        self._confirming = False
        self.endpointer = Endpointer()
        self._listening = False
        self._held: list[np.ndarray] | None = None
        """Audio after the speaker paused (None: no pause), fed only if speech resumes."""
        self.last_hangover_s = 0.0
        """How long after its last voiced frame the last utterance was cut (for figures)."""

    def refresh_grammar(self) -> None:
        """Rebuild the recognizer's grammar when the registry has changed."""
        version = self.registry.version
        if version == self._grammar_version:
            return
        wake = "" if self.settings.push_to_talk else self.settings.wake or ""
        grammar = build_grammar(self.registry.entities(), wake, self.recognizer.knows, version)
        self.recognizer.use_grammar(grammar)
        self._grammar_version = version
        log.info("voice grammar rebuilt: %d names", sum(len(v) for v in grammar.names.values()))

    def open_window(self, seconds: float | None = None) -> None:
        """The next utterance within ``seconds`` (default: as after the wake phrase) is a
        request without the wake phrase: push-to-talk, or an MQTT trigger."""
        self._awake_until = time.monotonic() + (seconds or self.settings.listen_after_wake_s)

    def feed(self, frame: np.ndarray) -> Turn | None:
        """One 30 ms frame of live audio; a turn when it ended an utterance. Speech is
        decoded while it is spoken."""
        audio, utterance = self.endpointer.feed(frame)
        if audio is not None:
            if not self._listening:
                self.refresh_grammar()
                self.recognizer.begin(window_open=time.monotonic() < self._window_end())
                self._listening = True
            if utterance is None:
                self._stream(audio)
            elif self._held is None:
                self.recognizer.feed(audio)
        if utterance is None:
            return None
        return self._end(utterance)

    def _stream(self, audio: np.ndarray) -> None:
        if self._held is not None:
            self._held.append(audio)
            if self.endpointer.silent_frames == 0:  # not the end after all
                self.recognizer.feed(np.concatenate(self._held))
                self._held = None
            return
        self.recognizer.feed(audio)
        if self.endpointer.silent_frames >= PAUSE_FRAMES:
            self.recognizer.speech_paused()
            self._held = []

    def flush(self) -> Turn | None:
        """The end of the audio: the utterance in progress, if any."""
        utterance = self.endpointer.flush()
        return self._end(utterance) if utterance is not None else None

    def _end(self, utterance: Utterance) -> Turn:
        started = time.perf_counter()
        heard = self.recognizer.finish()
        self._listening = False
        self._held = None
        self.last_hangover_s = utterance.detected_s - utterance.speech_ended_s
        timings = {
            "recognize": round(heard.seconds * 1000, 1),
            "final_decode": round((time.perf_counter() - started) * 1000, 1),
        }
        text = heard.text
        now = time.monotonic()
        if self.speaker is not None and self.speaker.speaking:
            if self.settings.stop_word in text.split():
                self.speaker.stop()
                return Turn(heard, "stopped", timings_ms=timings)
            return Turn(heard, "ignored", timings_ms=timings)
        if self.speaker is not None and now - self.speaker.finished_at < self.settings.refractory_s:
            return Turn(heard, "ignored", timings_ms=timings)
        if not text:
            return Turn(heard, "silence", timings_ms=timings)
        if not heard.accepted:
            return Turn(heard, "rejected", timings_ms=timings)
        addressed = self._addressed(text, now)
        if addressed is None:
            return Turn(heard, "not_addressed", timings_ms=timings)
        if not addressed:
            self._awake_until = now + self.settings.listen_after_wake_s
            return Turn(heard, "wake", timings_ms=timings)
        text = addressed
        self._awake_until = 0.0
        request = words_to_digits(text)
        started = time.perf_counter()
        response = self.ask(request, self.settings.area)
        timings["agent"] = round((time.perf_counter() - started) * 1000, 1)
        # "Do you want me to unlock the front door?": the answer needs no wake phrase.
        self._confirming = response is not None and response.status == "confirm"
        if self._confirming:
            self._awake_until = time.monotonic() + self.settings.listen_after_wake_s
        if response is not None and self.speaker is not None:
            self.speaker.say(response.text)
        return Turn(heard, "request", request, response, timings)

    def _addressed(self, text: str, now: float) -> str | None:
        """The request in ``text`` ("" for the wake phrase alone), or None when it was not
        said to us: no wake phrase (or push-to-talk) and no open window."""
        if self.settings.push_to_talk:
            return text if now < self._window_end() else None
        wake = spoken(self.settings.wake) if self.settings.wake else ""
        if wake and (text == wake or text.startswith(wake + " ")):
            return text[len(wake) :].strip()
        return text if not wake or now < self._window_end() else None

    def _window_end(self) -> float:
        """Until when a request needs no wake phrase: after the wake phrase alone, or after
        the agent asked for a confirmation (counted from the end of the spoken question)."""
        end = self._awake_until
        if self._confirming and self.speaker is not None:
            end = max(end, self.speaker.finished_at + self.settings.listen_after_wake_s)
        return end
