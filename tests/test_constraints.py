"""Constrained decoding with llguidance on real (tiny, random-weight) ONNX models.

Random weights would produce anything; under the grammar every output must parse and
use only the enumerated names, whatever the sampling.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from llguidance import LLTokenizer
from tokenizers import Tokenizer, decoders

from edge_agent.llm.bundle import open_bundle
from edge_agent.llm.constraints import (
    GrammarConstraint,
    TokenizerBytesError,
    check_token_bytes,
    json_schema_grammar,
    lark_grammar,
    load_ll_tokenizer,
    token_bytes,
)
from edge_agent.llm.generate import Generator, GrammarError
from edge_agent.llm.onnx_lm import OnnxCausalLM
from edge_agent.llm.sampling import SamplingParams

DEVICES = ["Bedroom Lamp", "Kitchen Light", "Garage Door", "Küche Décor"]
SCHEMA = {
    "type": "object",
    "properties": {
        "device": {"enum": DEVICES},
        "action": {"enum": ["turn_on", "turn_off", "set_brightness"]},
        "value": {"type": "integer", "minimum": 0, "maximum": 100},
    },
    "required": ["device", "action"],
    "additionalProperties": False,
}


def _setup(bundle_dir: Path) -> tuple[Generator, Tokenizer, object]:
    bundle = open_bundle(bundle_dir)
    tokenizer = Tokenizer.from_file(str(bundle.tokenizer_path))
    manifest = bundle.manifest
    ll = load_ll_tokenizer(tokenizer, manifest.architecture.vocab_size, manifest.tokens.eos_ids)
    return Generator(OnnxCausalLM(bundle), decode=tokenizer.decode), tokenizer, ll


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_constrained_output_always_parses_and_obeys_the_enums(
    model_type: str, tiny_bundle: Callable[[str, str], Path]
) -> None:
    gen, tokenizer, ll = _setup(tiny_bundle(model_type, "int4"))
    constraint = GrammarConstraint(ll, json_schema_grammar(SCHEMA))
    prompt = tokenizer.encode("Turn on the kitchen light").ids
    forced = 0
    for seed in range(12):
        constraint.reset()
        result = gen.generate(prompt, max_new_tokens=60, constraint=constraint,
                              sampling=SamplingParams(temperature=1.5, seed=seed))  # fmt: skip
        assert result.finish_reason == "grammar", result.text
        command = json.loads(result.text or "")
        assert command["device"] in DEVICES
        assert command["action"] in ("turn_on", "turn_off", "set_brightness")
        assert 0 <= command.get("value", 0) <= 100
        forced += result.forced_tokens
    assert forced > 0  # '{"device":"' and the like are fast-forwarded


def test_lark_grammar_with_runtime_alternatives(tiny_bundle: Callable[[str, str], Path]) -> None:
    gen, tokenizer, ll = _setup(tiny_bundle("llama", "fp32"))
    names = " | ".join(json.dumps(name) for name in DEVICES)
    constraint = GrammarConstraint(
        ll, lark_grammar(f'start: ("on" | "off") " " name\nname: {names}')
    )
    result = gen.generate(tokenizer.encode("x").ids, max_new_tokens=30, constraint=constraint)
    verb, _, name = (result.text or "").partition(" ")
    assert verb in ("on", "off") and name in DEVICES


def test_invalid_grammar_is_an_error_not_a_hang(tiny_bundle: Callable[[str, str], Path]) -> None:
    _, _, ll = _setup(tiny_bundle("llama", "fp32"))
    with pytest.raises(GrammarError, match="invalid grammar"):
        GrammarConstraint(ll, lark_grammar("start: undefined_rule"))


def test_token_bytes_agree_with_the_tokenizer(tiny_bundle: Callable[[str, str], Path]) -> None:
    _, tokenizer, ll = _setup(tiny_bundle("llama", "fp32"))
    check_token_bytes(ll, tokenizer, range(tokenizer.get_vocab_size()))


def test_token_bytes_match_llguidances_own_reading(
    tiny_bundle: Callable[[str, str], Path],
) -> None:
    bundle = open_bundle(tiny_bundle("llama", "fp32"))
    tokenizer = Tokenizer.from_file(str(bundle.tokenizer_path))
    width = bundle.manifest.architecture.vocab_size
    reference = LLTokenizer(str(bundle.tokenizer_path), n_vocab=width)
    ours = token_bytes(tokenizer, width)
    assert ours == [reference.decode_bytes([i]) for i in range(width)]
    assert any(b" " in piece for piece in ours)  # byte-level spaces were translated


def test_a_composite_byte_level_decoder_is_read_right(
    tiny_bundle: Callable[[str, str], Path],
) -> None:
    bundle = open_bundle(tiny_bundle("llama", "fp32"))
    tokenizer = Tokenizer.from_file(str(bundle.tokenizer_path))
    tokenizer.decoder = decoders.Sequence(
        [decoders.ByteFallback(), decoders.Fuse(), decoders.Replace("\u2581", " "),
         decoders.ByteLevel()]
    )  # fmt: skip
    ll = load_ll_tokenizer(tokenizer, bundle.manifest.architecture.vocab_size, [2])
    check_token_bytes(ll, tokenizer, range(tokenizer.get_vocab_size()))


def test_a_misread_decoder_is_detected(
    tiny_bundle: Callable[[str, str], Path], tmp_path: Path
) -> None:
    bundle = open_bundle(tiny_bundle("llama", "fp32"))
    tokenizer = Tokenizer.from_file(str(bundle.tokenizer_path))
    # transformers' GGUF conversion writes this composite decoder for byte-level vocabularies
    tokenizer.decoder = decoders.Sequence(
        [
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Replace("\u2581", " "),
            decoders.ByteLevel(),
        ]
    )
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    # llguidance's own reading of a tokenizer.json, which we no longer rely on
    ll = LLTokenizer(str(path), n_vocab=bundle.manifest.architecture.vocab_size)
    sample = random.Random(0).sample(range(tokenizer.get_vocab_size()), 200)
    with pytest.raises(TokenizerBytesError):
        check_token_bytes(ll, tokenizer, sample)
