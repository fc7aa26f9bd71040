"""Audio in: 16 kHz mono int16, from a WAV file, raw PCM, or a sound card (sounddevice)."""

from __future__ import annotations

import logging
import queue
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.voice.recognizers import SAMPLE_RATE

log = logging.getLogger(__name__)

FRAME_SAMPLES = SAMPLE_RATE * 30 // 1000
"""30 ms frames: what the voice activity detector decides on."""


def read_wav(path: Path) -> np.ndarray:
    """A WAV file as 16 kHz mono int16 (mixed down and resampled when it is not)."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            data = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(f"{path}: not a readable WAV file ({error})") from None
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit samples; 16-bit PCM WAV is needed")
    samples = np.frombuffer(data, dtype=np.int16).reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE:
        samples = resample(samples, rate, SAMPLE_RATE)
    return np.asarray(samples.round().clip(-32768, 32767), dtype=np.int16)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``samples`` at ``target`` Hz, band-limited: what lies above the new Nyquist frequency
    is cut, not folded back. Interpolating 48 or 22.05 kHz audio straight down to 16 kHz
    folds its 8-24 kHz content (hiss, fricatives) onto the bands the recognizer listens
    to (one more command and two more refusals in 128 synthesized clips)."""
    if len(samples) == 0:
        return np.asarray(samples, dtype=np.float64)
    count = max(1, round(len(samples) * target / rate))
    spectrum = np.fft.rfft(samples)
    kept = np.zeros(count // 2 + 1, dtype=complex)
    shared = min(len(kept), len(spectrum))
    kept[:shared] = spectrum[:shared]
    return np.fft.irfft(kept, count) * (count / len(samples))


def frames(samples: np.ndarray) -> Iterator[np.ndarray]:
    """Whole 30 ms frames of ``samples`` (a last partial frame is padded with silence)."""
    for start in range(0, len(samples), FRAME_SAMPLES):
        frame = samples[start : start + FRAME_SAMPLES]
        if len(frame) < FRAME_SAMPLES:
            frame = np.pad(frame, (0, FRAME_SAMPLES - len(frame)))
        yield frame


class Microphone:
    """A sound card through sounddevice's RawInputStream, 30 ms blocks into a bounded
    queue. When the consumer falls behind, the oldest audio is dropped (and counted):
    the live edge of speech matters more than audio from seconds ago."""

    def __init__(
        self,
        device: str | int | None = None,
        max_blocks: int = 200,
        *,
        wait_when_full: bool = False,
    ) -> None:
        self.device = device
        self.wait_when_full = wait_when_full
        """Block the audio callback instead of dropping: for inputs that are not paced in
        real time (ALSA's file plugin reads a file as fast as it is asked to)."""
        self.dropped = 0
        self._blocks: queue.Queue[bytes] = queue.Queue(maxsize=max_blocks)
        self._stream: Any = None

    def __enter__(self) -> Microphone:
        import sounddevice

        self._stream = sounddevice.RawInputStream(
            samplerate=SAMPLE_RATE,
            blocksize=FRAME_SAMPLES,
            device=self.device,
            channels=1,
            dtype="int16",
            callback=self._callback,
        )
        self._stream.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()

    def _callback(self, data: Any, count: int, timing: Any, status: Any) -> None:
        if status:
            log.debug("audio input: %s", status)
        block = bytes(data)
        if self.wait_when_full:
            self._blocks.put(block)
            return
        while True:
            try:
                self._blocks.put_nowait(block)
                return
            except queue.Full:
                try:
                    self._blocks.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def frames(self, timeout: float = 1.0) -> Iterator[np.ndarray | None]:
        """30 ms frames as they come; None after ``timeout`` without audio."""
        while True:
            try:
                block = self._blocks.get(timeout=timeout)
            except queue.Empty:
                yield None
                continue
            yield np.frombuffer(block, dtype=np.int16)
