"""Where an utterance starts and ends: WebRTC's voice activity detector on 30 ms frames,
with a little audio kept from before the start and a cap on the length."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge_agent.voice.audio import FRAME_SAMPLES
from edge_agent.voice.recognizers import SAMPLE_RATE

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE


@dataclass(frozen=True)
class Utterance:
    samples: np.ndarray
    speech_ended_s: float
    """Stream time (seconds from the start of the audio) of the last voiced frame."""
    detected_s: float
    """Stream time at which the end was decided (the trailing silence, or the cap)."""


class Endpointer:
    def __init__(
        self,
        *,
        aggressiveness: int = 2,
        start_frames: int = 3,
        end_silence_s: float = 0.3,
        preroll_s: float = 0.3,
        max_utterance_s: float = 8.0,
    ) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(aggressiveness)
        self._start_frames = start_frames
        self._end_frames = max(1, round(end_silence_s / FRAME_S))
        self.hangover_s = self._end_frames * FRAME_S
        self._max_frames = round(max_utterance_s / FRAME_S)
        keep = max(start_frames, round(preroll_s / FRAME_S))
        self._recent: deque[tuple[np.ndarray, bool]] = deque(maxlen=keep)
        self._speech: list[np.ndarray] = []
        self._silent = 0
        self._frames_seen = 0
        self._last_voiced = 0

    @property
    def silent_frames(self) -> int:
        """Unvoiced frames since the last voiced one of the utterance in progress."""
        return self._silent

    def feed(self, frame: np.ndarray) -> tuple[np.ndarray | None, Utterance | None]:
        """One 30 ms int16 frame. Returns the audio that became part of an utterance with
        this frame (the pre-roll and the frame when speech starts, the frame during speech;
        for a streaming recognizer) and the utterance when this frame ended one."""
        self._frames_seen += 1
        voiced = self._vad.is_speech(frame.astype(np.int16).tobytes(), SAMPLE_RATE)
        if not self._speech:
            self._recent.append((frame, voiced))
            recent_voiced = sum(v for _, v in list(self._recent)[-self._start_frames :])
            if recent_voiced >= self._start_frames:
                self._speech = [f for f, _ in self._recent]
                self._recent.clear()
                self._silent = 0
                self._last_voiced = self._frames_seen
                return np.concatenate(self._speech), None
            return None, None
        self._speech.append(frame)
        if voiced:
            self._silent = 0
            self._last_voiced = self._frames_seen
        else:
            self._silent += 1
        if self._silent >= self._end_frames or len(self._speech) >= self._max_frames:
            return frame, self._cut()
        return frame, None

    def flush(self) -> Utterance | None:
        """The utterance in progress when the audio ends."""
        return self._cut() if self._speech else None

    def _cut(self) -> Utterance:
        samples = np.concatenate(self._speech)
        self._speech, self._silent = [], 0
        return Utterance(samples, self._last_voiced * FRAME_S, self._frames_seen * FRAME_S)
