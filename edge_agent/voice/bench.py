"""``edge-agent voice-bench``: the voice path on synthesized speech, with the real model.

Commands made from the demo home's registry (every thing each device can do), spoken by
four voices of two synthesizers at two noise levels, and unrelated sentences; each is run
through the whole path (end of utterance, wake phrase, recognizer, planner with the
bundle; commands the grammar recognizer heard are read without the model unless
``--model-only``) and the figures printed: share of commands that reached the agent word
for word and share of unrelated speech refused, recognizer real-time factor, latency from the end
of speech to the command, and peak RSS.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from edge_agent.demo.fixtures import demo_registry
from edge_agent.voice.phrases import number_words, spoken, words_to_digits
from edge_agent.voice.synth import ENGINES, have, installed_voices

VOICES = (("espeak-ng", "en-us"), ("flite", "slt"), ("espeak-ng", "en-gb"), ("flite", "kal"))
NOISE = (0.002, 0.01)


def demo_commands() -> list[str]:
    """Commands for the demo home made from its registry, one per thing each device can do."""
    commands = []
    for number, entity in enumerate(sorted(demo_registry().entities(), key=lambda e: e.id)):
        name = spoken(entity.name)
        if entity.supports("set_brightness"):
            commands.append(f"dim the {name} to {number_words(10 + 7 * number % 90)} percent")
        if entity.supports("turn_on"):
            commands.append(f"turn {'on' if number % 2 else 'off'} the {name}")
        if entity.supports("set_temperature"):
            commands.append(f"set the {name} to {number_words(17 + number % 8)} degrees")
        if entity.supports("open"):
            commands.append(f"close the {name}")
        if entity.supports("lock"):
            commands.append(f"lock the {name}")
        if entity.supports("activate"):
            commands.append(f"activate {name}")
        if entity.domain in ("switch", "light") and number % 3 == 0:
            commands.append(f"is the {name} on")
    return commands


UNRELATED = (
    "remind me to buy milk",
    "what is the capital of peru",
    "play some jazz in the kitchen",
    "tell me a joke about penguins",
    "how long does it take to boil an egg",
    "call my sister tomorrow morning",
    "the kids are finally asleep",
    "set a timer for ten minutes",
    "who won the football game last night",
    "order more coffee beans",
    "what time is it in tokyo",
    "I think it will rain today",
)


WAKE = "hey computer"


def request_content(text: str) -> str:
    """A request without the words that do not change it ("the", "please")."""
    return " ".join(w for w in text.split() if w not in ("the", "please"))


class _Bench:
    def __init__(self, bundle: Path, shortcut: bool) -> None:
        from edge_agent.agent.evaluate import EVAL_POLICY
        from edge_agent.agent.planner import Planner
        from edge_agent.agent.policy import Policy
        from edge_agent.llm.bundle import open_bundle
        from edge_agent.llm.structured import JsonModel
        from edge_agent.llm.text import TextModel
        from edge_agent.voice.recognizers import PocketsphinxRecognizer
        from edge_agent.voice.session import VoiceSession, VoiceSettings
        from edge_agent.voice.spoken_intent import SpokenCommands

        registry = demo_registry()
        opened = open_bundle(bundle)
        model = JsonModel(TextModel.load(opened))
        spoken = SpokenCommands(registry.entities) if shortcut else None
        style = opened.manifest.planner_prompt
        self.planner = Planner(
            model, registry, Policy(EVAL_POLICY), prompt_style=style, spoken=spoken
        )
        model.warm_up(self.planner.prefix)
        self.asked: list[tuple[str, float]] = []
        self.session = VoiceSession(PocketsphinxRecognizer(), registry, self._ask,
                                    VoiceSettings(wake=WAKE))  # fmt: skip
        self.session.refresh_grammar()
        self.latencies: list[tuple[float, float]] = []
        self.speech_s = self.decode_s = 0.0
        self.read_directly = 0

    def _ask(self, text: str, area: str | None) -> Any:
        from edge_agent.messages import Context, Request

        response = self.planner.handle(
            Request(text=text, context=Context(area=area, source="voice:bench"))
        )
        self.asked.append((text, time.perf_counter()))
        return response

    def listen(self, text: str, engine: str, voice: str, noise: float, seed: int) -> list[str]:
        """Feeds the clip frame by frame as if live; returns the requests the agent got."""
        from edge_agent.voice.audio import frames
        from edge_agent.voice.recognizers import SAMPLE_RATE
        from edge_agent.voice.synth import synthesize
        from edge_agent.voice.vad import FRAME_S

        # A second of silence after the words, so that every utterance is ended by the
        # endpointer as it would be live, not by the end of the clip.
        pad_s = 1.0
        audio = synthesize(text, engine=engine, voice=voice, noise=noise, seed=seed, pad_s=pad_s)
        self.asked.clear()
        # Stream time at which the work on the frames so far is done. Frames arrive in real
        # time, so work that outlasts a frame delays the next ones; the clock adds up the
        # measured work instead of sleeping through the audio.
        clock = 0.0
        for index, frame in enumerate(frames(audio)):
            arrived = (index + 1) * FRAME_S
            begun = max(clock, arrived)
            started = time.perf_counter()
            turn = self.session.feed(frame)
            clock = begun + time.perf_counter() - started
            if turn is None:
                continue
            self.decode_s += turn.heard.seconds
            if turn.outcome == "request" and self.asked:
                done = begun + self.asked[-1][1] - started
                speech_ended = arrived - self.session.last_hangover_s
                self.latencies.append((done - speech_ended, done - arrived))
                if turn.response is not None:
                    self.read_directly += "spoken" in turn.response.timings_ms
        self.session.flush()
        self.speech_s += len(audio) / SAMPLE_RATE - 2 * pad_s
        return [text for text, _ in self.asked]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def parse_voices(text: str) -> tuple[tuple[str, str], ...]:
    """``espeak-ng:en-gb-scotland,flite:awb`` -> the (engine, voice) pairs."""
    voices = []
    for item in text.split(","):
        engine, _, voice = item.strip().partition(":")
        if engine not in ENGINES or not voice:
            raise ValueError(f"{item!r} is not engine:voice (engines: {', '.join(ENGINES)})")
        voices.append((engine, voice))
    for engine, voice in voices:  # before the model loads, not minutes into the run
        if not have(engine):
            raise ValueError(f"{engine} is not installed")
        if voice not in installed_voices(engine):
            raise ValueError(f"{engine} has no voice {voice!r}")
    return tuple(voices)


def run(bundle: Path, shortcut: bool = True, voices: tuple[tuple[str, str], ...] = VOICES) -> int:
    bench = _Bench(bundle, shortcut)
    commands = demo_commands()
    total = max(40, len(commands))
    right = 0
    by_voice: dict[str, list[int]] = {f"{e}:{v}": [0, 0] for e, v in voices}
    misses: list[str] = []
    for index in range(total):
        command = commands[index % len(commands)]
        engine, voice = voices[index % len(voices)]
        asked = bench.listen(f"{WAKE} {command}", engine, voice,
                             NOISE[index // len(voices) % 2], index)  # fmt: skip
        said = [request_content(a) for a in asked]
        good = said == [request_content(words_to_digits(command))]
        right += good
        if not good:
            misses.append(f"{engine}:{voice} noise {NOISE[index // len(voices) % 2]}: "
                          f"{command!r} heard as {said or 'nothing'}")  # fmt: skip
        tally = by_voice[f"{engine}:{voice}"]
        tally[0] += good
        tally[1] += 1
        print(f"\r{index + 1}/{total} commands", end="", file=sys.stderr, flush=True)
    refused = 0
    for index, sentence in enumerate(UNRELATED):
        engine, voice = voices[index % len(voices)]
        for text in (sentence, f"{WAKE} {sentence}"):
            asked = bench.listen(text, engine, voice, NOISE[0], 100 + index)
            refused += not asked
            if asked:
                misses.append(f"{engine}:{voice}: unrelated {text!r} taken as {asked}")
    print(file=sys.stderr)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from_speech = [t * 1000 for t, _ in bench.latencies]
    from_end = [t * 1000 for _, t in bench.latencies]
    hangover_ms = bench.session.endpointer.hangover_s * 1000
    unrelated = 2 * len(UNRELATED)
    print(f"commands heard word for word: {right}/{total} ({right / total:.1%})")
    print("  by voice: " + ", ".join(f"{k} {g}/{n}" for k, (g, n) in by_voice.items()))
    print(f"unrelated speech refused:     {refused}/{unrelated} ({refused / unrelated:.1%})")
    print(f"recognizer real-time factor:  {bench.decode_s / bench.speech_s:.3f} "
          "(decoding time / length of the spoken words)")  # fmt: skip
    print(f"end of speech -> command:     p50 {statistics.median(from_speech):.0f} ms, "
          f"p95 {_p95(from_speech):.0f} ms (with {hangover_ms:.0f} ms of silence to end "
          "the utterance)")  # fmt: skip
    print(f"end of utterance -> command:  p50 {statistics.median(from_end):.0f} ms, "
          f"p95 {_p95(from_end):.0f} ms (last decoding step + planner)")  # fmt: skip
    print(f"requests read without the model: {bench.read_directly} of {len(bench.latencies)}")
    print(f"peak RSS (planner, recognizer, voice): {rss_mb:.0f} MB")
    for miss in misses:
        print(f"  miss: {miss}")
    return 0
