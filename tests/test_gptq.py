"""GPTQ: the weights it writes are what onnxruntime computes with, and they beat rounding
to nearest where it counts (the layer's output on the inputs it was calibrated on)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edge_agent.llm.bundle import open_bundle
from edge_agent.llm.onnx_lm import OnnxCausalLM
from edge_agent_export.gptq import BlockWeight, matmul_nbits, quantize_weight
from edge_agent_export.quantize import QuantSettings, count_ops, quantize


def correlated_inputs(rng: np.random.Generator, rows: int, k: int, seed: int = 0) -> np.ndarray:
    """Activations like a transformer's: a few channels much larger, channels correlated.
    ``seed`` fixes that structure (one layer's inputs); ``rng`` draws the rows."""
    structure = np.random.default_rng(seed)
    mix = structure.normal(size=(k, k)) / np.sqrt(k) + np.eye(k)
    mix[:, structure.choice(k, 4, replace=False)] *= 8.0
    return (rng.normal(size=(rows, k)) @ mix).astype(np.float32)


def round_to_nearest(weight: np.ndarray, bits: int, block: int, symmetric: bool) -> BlockWeight:
    """The same format with no error feedback: GPTQ on an identity Hessian (every input
    alike and uncorrelated) only picks each block's clipping ratio."""
    return quantize_weight(weight, np.eye(weight.shape[0]), bits=bits, block_size=block,
                           symmetric=symmetric, damp=0.0)  # fmt: skip


def initializers(path: Path) -> set[str]:
    return {t.name for t in onnx.load(str(path)).graph.initializer}


def run_matmul_nbits(x: np.ndarray, node: onnx.NodeProto, tensors: list[TensorProto],
                     n: int) -> np.ndarray:  # fmt: skip
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(node.input[0], TensorProto.FLOAT, [None, x.shape[1]])],
        [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, [None, n])],
        initializer=tensors,
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {node.input[0]: x})[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("bits", "symmetric"), [(4, True), (4, False), (8, True)])
@pytest.mark.parametrize("k", [64, 40])  # 40: the last block is padded
@pytest.mark.parametrize("act_order", [False, True])
def test_onnxruntime_computes_with_exactly_the_dequantized_weights(
    bits: int, symmetric: bool, k: int, act_order: bool
) -> None:
    rng = np.random.default_rng(0)
    n = 24
    weight = rng.normal(size=(k, n)).astype(np.float32)
    x = correlated_inputs(rng, 200, k)
    hessian = (x.T @ x).astype(np.float64) / len(x)
    quantized = quantize_weight(weight, hessian, bits=bits, block_size=16, symmetric=symmetric,
                                act_order=act_order)  # fmt: skip
    assert quantized.codes.max() <= 2**bits - 1
    node = helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")
    new, tensors = matmul_nbits(node, quantized, accuracy_level=1)  # fp32 activations
    got = run_matmul_nbits(x[:8], new, tensors, n)
    np.testing.assert_allclose(got, x[:8] @ quantized.dequantize(), rtol=1e-4, atol=1e-3)
    # ... and they are a 'bits'-bit version of the weight, not something else.
    assert np.abs(quantized.dequantize() - weight).mean() < (0.2 if bits == 4 else 0.02)


@pytest.mark.parametrize("bits", [4, 8])
def test_gptq_moves_the_layer_output_less_than_rounding_to_nearest(bits: int) -> None:
    rng = np.random.default_rng(1)
    k, n = 128, 64
    weight = rng.normal(size=(k, n)).astype(np.float32)
    calibration = correlated_inputs(rng, 2000, k)
    unseen = correlated_inputs(np.random.default_rng(2), 500, k)  # other rows, same layer
    hessian = (calibration.T @ calibration).astype(np.float64) / len(calibration)

    def output_error(quantized: BlockWeight, x: np.ndarray) -> float:
        return float(np.mean((x @ quantized.dequantize() - x @ weight) ** 2))

    gptq = quantize_weight(weight, hessian, bits=bits, block_size=32, symmetric=True)
    nearest = round_to_nearest(weight, bits, 32, symmetric=True)
    bound = {4: 0.6, 8: 0.85}[bits]  # measured 0.44 / 0.47 and 0.73 / 0.77
    assert output_error(gptq, calibration) < bound * output_error(nearest, calibration)
    assert output_error(gptq, unseen) < bound * output_error(nearest, unseen)
    # The hardest-firing inputs first: less error still (0.37 / 0.38 of nearest's, unseen).
    ordered = quantize_weight(weight, hessian, bits=bits, block_size=32, symmetric=True,
                              act_order=True)  # fmt: skip
    assert output_error(ordered, unseen) < 0.9 * output_error(gptq, unseen)


def test_an_input_that_never_fires_does_not_break_it() -> None:
    rng = np.random.default_rng(3)
    x = correlated_inputs(rng, 100, 32)
    x[:, 5] = 0.0
    weight = rng.normal(size=(32, 8)).astype(np.float32)
    quantized = quantize_weight(weight, (x.T @ x).astype(np.float64), bits=4, block_size=16,
                                symmetric=True)  # fmt: skip
    assert np.isfinite(quantized.scales).all()
    assert np.isfinite(quantized.dequantize()).all()


def test_quantize_refuses_gptq_without_blocks_or_calibration(tmp_path: Path) -> None:
    model = onnx.ModelProto()
    with pytest.raises(ValueError, match="block-wise"):
        quantize(model, QuantSettings(precision="int8", gptq=True), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="calibration"):
        quantize(model, QuantSettings(precision="int4", gptq=True), tmp_path / "m.onnx")


def test_an_eight_bit_share_widens_the_weights_four_bits_hurt_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Of a graph's weights, the ones whose output 4-bit rounding moves most (relative to
    the output) are written at 8 bits, as many as the share says."""
    from edge_agent_export import gptq

    rng = np.random.default_rng(5)
    k = 32
    x = correlated_inputs(rng, 256, k)
    hessian = (x.T @ x / len(x)).astype(np.float64)
    weights = {  # heavy tails waste a block's 16 levels on a few values
        "normal": rng.normal(size=(k, 8)).astype(np.float32),
        "tailed": rng.standard_t(1.5, size=(k, 8)).astype(np.float32),
        "uniform": rng.uniform(-1, 1, size=(k, 8)).astype(np.float32),
    }
    errors = {name: gptq.relative_output_error(
                  w, quantize_weight(w, hessian, bits=4, block_size=16, symmetric=True), hessian)
              for name, w in weights.items()}  # fmt: skip
    ranked = sorted(errors, key=errors.__getitem__, reverse=True)
    assert errors[ranked[0]] > 1.5 * errors[ranked[1]], errors  # a clear worst one
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", name], [f"y_{name}"], name=name) for name in weights],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, k])],
        [helper.make_tensor_value_info(f"y_{n}", TensorProto.FLOAT, [None, 8]) for n in weights],
        [onnx.numpy_helper.from_array(w, name) for name, w in weights.items()],
    )  # fmt: skip
    # The Hessian is given: the graph has no calibration run of its own.
    monkeypatch.setattr(gptq, "collect_hessians", lambda *args, **kwargs: {"x": hessian})
    calibration = SimpleNamespace(suffixes=[])
    for share, wide in ((0.0, set()), (0.34, set(ranked[:1])), (0.67, set(ranked[:2])),
                        (1.0, set(weights))):  # fmt: skip
        model = gptq.apply(helper.make_model(graph), calibration, bits=4, block_size=16,  # type: ignore[arg-type]
                           symmetric=True, accuracy_level=4, eight_bit_share=share)  # fmt: skip
        bits = {n.name.rsplit("_Q", 1)[0]: a.i for n in model.graph.node
                for a in n.attribute if a.name == "bits"}  # fmt: skip
        assert set(bits) == set(weights)
        assert {name for name, b in bits.items() if b == 8} == wide, share


def test_gptq_int4_bundle_is_plain_matmulnbits_and_nearer_fp32_than_rounding(
    tmp_path: Path, tiny_bundle: Callable[..., Path], tiny_checkpoint: Callable[[str], Path]
) -> None:
    """The whole build: calibrated on planner requests, written as the operators the
    device already runs, and closer to fp32 on a planner prompt it was not calibrated on."""
    from tokenizers import Tokenizer

    from edge_agent_export.build import build

    out = tmp_path / "gptq"
    build(str(tiny_checkpoint("llama")), out,
          QuantSettings(precision="int4", block_size=16, gptq=True), quiet=True)  # fmt: skip
    bundle = open_bundle(out)
    assert bundle.manifest.quantization.gptq is True
    ops = count_ops(onnx.load(str(bundle.model_path)))
    assert ops.get("MatMulNBits", 0) >= bundle.manifest.architecture.num_layers * 4 + 1
    assert ops.get("GatherBlockQuantized", 0) == 1, "the embedding is 4-bit too (to nearest)"
    weights = initializers(bundle.model_path)
    float_weights = [n.name for n in onnx.load(str(bundle.model_path)).graph.node
                     if n.op_type == "MatMul" and n.input[1] in weights]  # fmt: skip
    assert float_weights == [], "every weight MatMul was replaced"

    text = "Turn the hallway lamp off and set the bedroom thermostat to 19 degrees"
    ids = Tokenizer.from_file(str(bundle.tokenizer_path)).encode(text).ids

    def logits(folder: Path) -> np.ndarray:
        lm = OnnxCausalLM(open_bundle(folder))
        return lm.forward(ids, lm.empty_cache(), logits_positions=len(ids))[0]

    reference = logits(tiny_bundle("llama", "fp32"))
    calibrated = np.abs(logits(out) - reference).mean()
    nearest = np.abs(logits(tiny_bundle("llama", "int4")) - reference).mean()
    assert calibrated < nearest, (calibrated, nearest)
