"""Synthetic speech for the voice tests and benchmark: espeak-ng and flite, resampled to
16 kHz, with a little noise.

Pure digital silence upsets recognizers and detectors tuned for microphones, so every
clip gets background noise at a stated level and some silence around the words.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from edge_agent.voice.audio import read_wav

ENGINES = ("espeak-ng", "flite")


def have(engine: str) -> bool:
    return shutil.which(engine) is not None


def installed_voices(engine: str) -> set[str]:
    """The voice names ``engine`` knows (flite falls back to its default on an unknown
    name without a word, so asking is the only way to know)."""
    if engine == "flite":
        listed = subprocess.run(["flite", "-lv"], check=True, capture_output=True, text=True)
        return set(listed.stdout.split(":", 1)[-1].split())
    listed = subprocess.run(["espeak-ng", "--voices"], check=True, capture_output=True, text=True)
    names = set()
    for line in listed.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5:
            names |= {fields[1], fields[3], fields[4]}  # language, name, file
    return names


def synthesize(
    text: str,
    *,
    engine: str = "espeak-ng",
    voice: str | None = None,
    speed: int | None = None,
    noise: float = 0.005,
    seed: int = 0,
    pad_s: float = 0.5,
) -> np.ndarray:
    """``text`` spoken, as 16 kHz int16 with silence around it and noise of RMS ``noise``
    (a share of full scale)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "speech.wav"
        if engine == "espeak-ng":
            command = ["espeak-ng", "-w", str(out)]
            command += ["-v", voice] if voice else []
            command += ["-s", str(speed)] if speed else []
            command.append(text)
        else:
            command = ["flite", "-t", text, "-o", str(out)]
            command += ["-voice", voice] if voice else []
        subprocess.run(command, check=True, capture_output=True)
        speech = read_wav(out).astype(np.float32)
    pad = np.zeros(int(pad_s * 16_000), dtype=np.float32)
    signal = np.concatenate([pad, speech, pad])
    rng = np.random.default_rng(seed)
    signal += rng.normal(0.0, noise * 32767, signal.size)
    return np.asarray(signal.clip(-32768, 32767), dtype=np.int16)


def write_wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    import wave

    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype(np.int16).tobytes())
    return path
