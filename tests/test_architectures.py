"""Every supported architecture through the whole pipeline, with tiny random weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from tiny_models import ARCHITECTURES

from edge_agent.llm.bundle import open_bundle
from edge_agent.llm.generate import Generator
from edge_agent.llm.onnx_lm import OnnxCausalLM
from edge_agent_export.quantize import count_ops

PROMPT = "Turn on the kitchen light and dim the"
NEW_TOKENS = 16  # longer than the tiny Gemma 3 sliding window (8), so local attention is hit


def torch_greedy(checkpoint: Path, prompt_ids: list[int], steps: int) -> list[int]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    ids = torch.tensor([prompt_ids])
    generated: list[int] = []
    with torch.no_grad():
        for _ in range(steps):  # no stop tokens: compare every step
            token = int(model(ids).logits[0, -1].argmax())
            generated.append(token)
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return generated


@pytest.mark.parametrize("graph", ["fused", "optimum"])
@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_fp32_onnx_greedy_equals_torch_greedy(
    model_type: str,
    graph: str,
    tiny_checkpoint: Callable[[str], Path],
    tiny_bundle: Callable[..., Path],
) -> None:
    bundle = open_bundle(tiny_bundle(model_type, "fp32", graph))
    assert bundle.manifest.io.kind == graph
    lm = OnnxCausalLM(bundle)
    from tokenizers import Tokenizer

    prompt = Tokenizer.from_file(str(bundle.tokenizer_path)).encode(PROMPT).ids
    expected = torch_greedy(tiny_checkpoint(model_type), prompt, NEW_TOKENS)
    assert Generator(lm).generate(prompt, max_new_tokens=NEW_TOKENS).token_ids == expected
    assert bundle.manifest.architecture.model_type == model_type


@pytest.mark.parametrize("graph", ["fused", "optimum"])
@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_int4_quantizes_every_linear_and_the_embedding(
    model_type: str, graph: str, tiny_bundle: Callable[..., Path]
) -> None:
    bundle = open_bundle(tiny_bundle(model_type, "int4", graph))
    ops = count_ops(onnx.load(str(bundle.model_path)))
    layers = bundle.manifest.architecture.num_layers
    # q, k, v, o, gate, up, down per layer (some exports fuse q/k/v or gate/up), plus the head.
    assert ops.get("MatMulNBits", 0) >= layers * 4 + 1
    assert ops.get("GatherBlockQuantized", 0) == 1, "the embedding must be 4-bit too"
    float_weight_matmuls = _matmuls_with_constant_weight(bundle.model_path)
    assert float_weight_matmuls == 0
    quant = bundle.manifest.quantization
    assert (quant.precision, quant.block_size, quant.embedding_quantized) == ("int4", 16, True)
    assert Generator(OnnxCausalLM(bundle)).generate([1, 2, 3], max_new_tokens=4).token_ids


def test_int4_can_keep_the_head_and_the_embedding_at_int8(
    tmp_path: Path, tiny_checkpoint: Callable[[str], Path]
) -> None:
    model_type = "llama"  # SmolLM2's architecture
    from edge_agent_export.build import build
    from edge_agent_export.quantize import QuantSettings

    out = tmp_path / "b"
    settings = QuantSettings(precision="int4", block_size=16, head_int8=True)
    build(str(tiny_checkpoint(model_type)), out, settings, quiet=True)
    bundle = open_bundle(out)
    ops = count_ops(onnx.load(str(bundle.model_path)))
    layers = bundle.manifest.architecture.num_layers
    assert ops.get("MatMulNBits", 0) >= layers * 4
    assert ops.get("MatMulInteger", 0) == 1, "the head alone is int8"
    assert ops.get("GatherBlockQuantized", 0) == 0
    assert ops.get("DequantizeLinear", 0) >= 1, "the embedding is int8"
    assert _matmuls_with_constant_weight(bundle.model_path) == 0
    assert bundle.manifest.quantization.head_int8 is True
    assert Generator(OnnxCausalLM(bundle)).generate([1, 2, 3], max_new_tokens=4).token_ids


def test_weight_only_int8_keeps_activations_and_stays_closer_to_fp32(
    tmp_path: Path, tiny_bundle: Callable[..., Path], tiny_checkpoint: Callable[[str], Path]
) -> None:
    """``--quant int8 --weight-only``: 8-bit weights in blocks, no activation rounded to
    8 bits between operators, so its logits are nearer fp32's than dynamic int8's."""
    import numpy as np

    from edge_agent_export.build import build
    from edge_agent_export.quantize import QuantSettings

    out = tmp_path / "w8"
    settings = QuantSettings(precision="int8", block_size=16, weight_only=True)
    build(str(tiny_checkpoint("llama")), out, settings, quiet=True)
    bundle = open_bundle(out)
    ops = count_ops(onnx.load(str(bundle.model_path)))
    assert ops.get("MatMulNBits", 0) >= bundle.manifest.architecture.num_layers * 4 + 1
    assert ops.get("DynamicQuantizeLinear", 0) == 0, "activations stay float"
    assert ops.get("DequantizeLinear", 0) >= 1, "the embedding is int8"
    assert _matmuls_with_constant_weight(bundle.model_path) == 0
    weights = onnx.load(str(bundle.model_path))
    bits = {a.i for n in weights.graph.node if n.op_type == "MatMulNBits"
            for a in n.attribute if a.name == "bits"}  # fmt: skip
    assert bits == {8}
    quant = bundle.manifest.quantization
    assert (quant.precision, quant.weight_only, quant.block_size) == ("int8", True, 16)

    def logits(folder: Path) -> np.ndarray:
        lm = OnnxCausalLM(open_bundle(folder))
        return lm.forward(list(range(1, 25)), lm.empty_cache(), logits_positions=24)[0]

    reference = logits(tiny_bundle("llama", "fp32"))
    weight_only = np.abs(logits(out) - reference).mean()
    dynamic = np.abs(logits(tiny_bundle("llama", "int8")) - reference).mean()
    assert weight_only < 0.8 * dynamic, (weight_only, dynamic)  # 0.014 against 0.020 here


@pytest.mark.parametrize("model_type", ["llama", "gemma"])
def test_int8_is_dynamic_integer_matmul(
    model_type: str, tiny_bundle: Callable[[str, str], Path]
) -> None:
    bundle = open_bundle(tiny_bundle(model_type, "int8"))
    ops = count_ops(onnx.load(str(bundle.model_path)))
    assert ops.get("MatMulInteger", 0) >= bundle.manifest.architecture.num_layers * 4 + 1
    assert ops.get("DynamicQuantizeLinear", 0) > 0
    assert _matmuls_with_constant_weight(bundle.model_path) == 0
    assert bundle.manifest.quantization.per_channel is True


def test_quantized_bundles_are_smaller_and_report_agreement(
    tiny_bundle: Callable[[str, str], Path],
) -> None:
    def weight_bytes(precision: str) -> int:
        files = open_bundle(tiny_bundle("llama", precision)).manifest.files
        return sum(entry.size_bytes for name, entry in files.items() if "model.onnx" in name)

    sizes = {p: weight_bytes(p) for p in ("fp32", "int8", "int4")}
    assert sizes["int4"] < sizes["int8"] < sizes["fp32"]
    import json

    report = json.loads((tiny_bundle("llama", "int4") / "quality_report.json").read_text())
    rows = {row["precision"]: row for row in report["rows"]}
    assert rows["fp32"]["top1_agreement_vs_fp32"] == 1.0
    assert 0.0 <= rows["int4"]["top1_agreement_vs_fp32"] <= 1.0
    assert rows["int4"]["decode_tokens_per_s"] > 0 and rows["int4"]["perplexity"] > 1.0


def _matmuls_with_constant_weight(path: Path) -> int:
    graph = onnx.load(str(path)).graph
    constants = {init.name for init in graph.initializer}
    return sum(1 for n in graph.node if n.op_type == "MatMul" and n.input[1] in constants)
