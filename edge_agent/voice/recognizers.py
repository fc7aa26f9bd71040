"""Speech to text on the device: pocketsphinx (default; its English model is in its wheel)
or vosk (a model folder the user downloads). Both listen for the home's command grammar,
fall back to open vocabulary when asked, and refuse what is not a command."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge_agent.voice.phrases import FILLER, CommandGrammar

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Heard:
    text: str
    """What was recognized ("" when nothing was)."""
    accepted: bool
    """False when the speech was not a command for this home (out of grammar)."""
    seconds: float
    """Time spent decoding."""
    confidence: float | None = None


class Recognizer(Protocol):
    name: str

    def use_grammar(self, grammar: CommandGrammar) -> None: ...

    def knows(self, word: str) -> bool: ...

    def begin(self, window_open: bool = True) -> None:
        """Start an utterance; audio then streams in with ``feed`` as it is spoken, so
        that at the end of speech only the last bit of decoding remains. Without an open
        listening window only a command after the wake phrase can count."""

    def feed(self, samples: np.ndarray) -> None: ...

    def speech_paused(self) -> None:
        """The speaker has paused: do the end-of-utterance work now, while the silence that
        would end the utterance is still being waited for, so that ``finish`` has nothing
        left to do. Audio fed afterwards means the pause was not the end."""

    def finish(self) -> Heard: ...


def recognize(recognizer: Recognizer, samples: np.ndarray) -> Heard:
    """A whole utterance at once."""
    recognizer.begin()
    recognizer.feed(samples)
    return recognizer.finish()


class PocketsphinxRecognizer:
    """CMU pocketsphinx with a JSGF grammar of the home's commands.

    Out-of-grammar speech is refused by a loop of everyday words in the same grammar: it
    competes with the commands, so "remind me to buy milk" comes out as filler words
    (refused) rather than as the closest command.
    """

    name = "pocketsphinx"

    def __init__(self, *, open_vocabulary: bool = False) -> None:
        from pocketsphinx import Decoder

        # bestpath off: the lattice pass at the end of an utterance cost 100-900 ms and is
        # for n-gram searches; a grammar's best path is known when the audio ends. Beams
        # wider than the defaults (1e-48, 7e-29) and a lighter grammar weight (6.5): with
        # both, 36 instead of 35 of 40 benchmark commands, 36 instead of 34 on four other
        # voices, 23 instead of 22 of 24 unrelated sentences refused.
        settings = dict(
            samprate=SAMPLE_RATE, loglevel="FATAL", bestpath=False, beam=1e-60, wbeam=1e-45,
            lw=5.0,
        )  # fmt: skip
        self._decoder = Decoder(**settings)
        # The whole-utterance pass has its own decoder (grammar only, no language model:
        # +27 MB), so that it can run at a pause while the live one goes on listening. It
        # runs only when the live pass failed, so it scores 8 Gaussians a frame instead of
        # 4: one more benchmark command right (38 of 40), the same on eight other voices.
        self._whole = Decoder(**settings, lm=None, topn=8)
        self._open = open_vocabulary
        self._grammar: CommandGrammar | None = None
        self._search = "home"

    def knows(self, word: str) -> bool:
        return self._decoder.lookup_word(word) is not None

    def use_grammar(self, grammar: CommandGrammar) -> None:
        # Without a window a command without the wake phrase is not acted on, so neither
        # pass need look for one: on the benchmark's 40 commands, 40 more from four other
        # voices and 96 unrelated sentences both passes heard the same with either grammar,
        # the live one in 0.63 of the time, the whole-utterance one in 0.67.
        for decoder in (self._decoder, self._whole):
            decoder.add_jsgf_string("home", grammar.jsgf())
            decoder.add_jsgf_string("addressed", grammar.jsgf(wake_needed=True))
            decoder.activate_search("home")
        self._search = "home"
        self._grammar = grammar

    def begin(self, window_open: bool = True) -> None:
        if self._grammar is not None:
            self._search = "home" if window_open else "addressed"
            for decoder in (self._decoder, self._whole):
                if decoder.current_search() != self._search:
                    decoder.activate_search(self._search)
        self._audio: list[np.ndarray] = []
        self._spent = 0.0
        self._whole_text: tuple[int, str] | None = None
        """The whole-utterance pass at a pause, and how many chunks of audio it heard."""
        self._decoder.start_utt()

    def feed(self, samples: np.ndarray) -> None:
        started = time.perf_counter()
        self._audio.append(samples.astype(np.int16))
        self._decoder.process_raw(self._audio[-1].tobytes(), False, False)
        self._spent += time.perf_counter() - started

    def speech_paused(self) -> None:
        if self._grammar is None or self._addressed(_text(self._decoder.hyp())):
            return  # the live pass has a command so far; ending it costs nothing
        started = time.perf_counter()
        self._whole_text = (len(self._audio), self._decode_whole())
        self._spent += time.perf_counter() - started

    def finish(self) -> Heard:
        started = time.perf_counter()
        self._decoder.end_utt()
        text = _text(self._decoder.hyp())
        if self._grammar is None:
            self._spent += time.perf_counter() - started
            return Heard(text, bool(text), self._spent)
        accepted = bool(text) and self._grammar.matches(text)
        if not self._addressed(text):
            # Live decoding normalizes the audio with a running cepstral mean that lags
            # behind a new voice or room; the whole utterance at once uses its own mean.
            # Worth its cost (a second decode) only when the live pass found no addressed
            # command.
            paused = self._whole_text
            again = paused[1] if paused and paused[0] == len(self._audio) else self._decode_whole()
            if self._grammar.matches(again) and (
                not accepted or again.startswith(self._grammar.wake)
            ):
                text, accepted = again, True
        if not accepted and self._open:
            text = self._decode_open()
            accepted = bool(text)
        self._spent += time.perf_counter() - started
        return Heard(text, accepted, self._spent)

    def _addressed(self, text: str) -> bool:
        assert self._grammar is not None
        return bool(text) and self._grammar.matches(text) and text.startswith(self._grammar.wake)

    def _decode_whole(self) -> str:
        self._whole.start_utt()
        self._whole.process_raw(np.concatenate(self._audio).tobytes(), False, True)
        self._whole.end_utt()
        return _text(self._whole.hyp())

    def _decode_open(self) -> str:
        """The utterance with the wheel's open language model."""
        self._decoder.activate_search("_default")
        try:
            self._decoder.start_utt()
            self._decoder.process_raw(np.concatenate(self._audio).tobytes(), False, True)
            self._decoder.end_utt()
            return _text(self._decoder.hyp())
        finally:
            self._decoder.activate_search(self._search)


def _text(hypothesis: Any) -> str:
    return " ".join(hypothesis.hypstr.split()) if hypothesis is not None else ""


class VoskRecognizer:
    """Kaldi through vosk, with a model folder given by the user.

    Grammar mode hands vosk the home's vocabulary; a result is accepted only when every
    word is confident and in the vocabulary. Open-vocabulary mode uses the model's own
    language model (when the model has one).
    """

    name = "vosk"

    def __init__(
        self, model_dir: Path, *, open_vocabulary: bool = False, min_confidence: float = 0.5
    ) -> None:
        import vosk

        vosk.SetLogLevel(-1)
        if not (Path(model_dir) / "am").is_dir() and not (Path(model_dir) / "final.mdl").exists():
            raise FileNotFoundError(f"{model_dir} is not a vosk model folder (no am/)")
        self._vosk = vosk
        self._model = vosk.Model(str(model_dir))
        self._open = open_vocabulary
        self._min_confidence = min_confidence
        self._grammar: CommandGrammar | None = None
        self._phrases: str | None = None

    def knows(self, word: str) -> bool:
        return bool(self._model.vosk_model_find_word(word) >= 0)

    def use_grammar(self, grammar: CommandGrammar) -> None:
        self._grammar = grammar
        phrases = [p for p in grammar.phrases() if all(self.knows(w) for w in p.split())]
        filler = [w for w in FILLER if self.knows(w) and w not in grammar.vocabulary]
        unknown = ["[unk]"] if self.knows("[unk]") else []
        self._phrases = json.dumps([*phrases, *filler, *unknown], ensure_ascii=False)

    def begin(self, window_open: bool = True) -> None:
        self._audio: list[np.ndarray] = []
        self._spent = 0.0
        self._recognizer = self._new(self._phrases)

    def feed(self, samples: np.ndarray) -> None:
        started = time.perf_counter()
        self._audio.append(samples)
        self._recognizer.AcceptWaveform(samples.astype(np.int16).tobytes())
        self._spent += time.perf_counter() - started

    def speech_paused(self) -> None:
        pass  # a vosk result ends its stream; its final step is short (no second pass)

    def finish(self) -> Heard:
        started = time.perf_counter()
        text, confidence = self._result(self._recognizer)
        if self._phrases is not None:
            accepted = (
                bool(text)
                and self._grammar is not None
                and self._grammar.matches(text)
                and confidence is not None
                and confidence >= self._min_confidence
            )
            if accepted or not self._open:
                return Heard(
                    text, accepted, self._spent + time.perf_counter() - started, confidence
                )
            again = self._new(None)
            again.AcceptWaveform(np.concatenate(self._audio).astype(np.int16).tobytes())
            text, confidence = self._result(again)
        return Heard(text, bool(text), self._spent + time.perf_counter() - started, confidence)

    def _new(self, phrases: str | None) -> Any:
        if phrases is None:
            recognizer = self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
        else:
            recognizer = self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE, phrases)
        recognizer.SetWords(True)
        return recognizer

    @staticmethod
    def _result(recognizer: Any) -> tuple[str, float | None]:
        result = json.loads(recognizer.FinalResult())
        words = result.get("result") or []
        confidence = min((w.get("conf", 0.0) for w in words), default=None)
        return " ".join(result.get("text", "").split()), confidence


def make_recognizer(kind: str, model_dir: Path | None, open_vocabulary: bool) -> Recognizer:
    if kind == "pocketsphinx":
        return PocketsphinxRecognizer(open_vocabulary=open_vocabulary)
    if kind == "vosk":
        if model_dir is None:
            raise ValueError("voice.recognizer = 'vosk' needs voice.vosk_model (a model folder)")
        return VoskRecognizer(model_dir, open_vocabulary=open_vocabulary)
    raise ValueError(f"unknown recognizer {kind!r} (pocketsphinx or vosk)")
