"""Weight quantization of an exported decoder: dynamic int8, or block-wise 8 / 4-bit
weights rounded to nearest or by GPTQ."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import onnx

from edge_agent.llm.manifest import Quantization
from edge_agent_export.onnx_graph import save_model

if TYPE_CHECKING:
    from edge_agent_export.gptq import Calibration

log = logging.getLogger(__name__)

Precision = Literal["fp32", "int8", "int4"]


@dataclass(frozen=True)
class QuantSettings:
    precision: Precision = "int4"
    per_channel: bool = True
    """int8: one scale per output channel (more accurate, slightly larger)."""
    block_size: int = 32
    """int4: weights sharing one scale; smaller blocks are more accurate and larger."""
    accuracy_level: int = 4
    """int4: MatMulNBits compute type (0 unset, 1 fp32, 4 int8 activations). 4 decoded
    2.8x faster than 0 on SmolLM2 (166 vs 60 tokens/s) for 48.6 % vs 50.0 % agreement."""
    symmetric: bool = True
    quantize_embedding: bool = True
    """Quantize the token embedding (Gather) too; for tied heads it is most of the model."""
    head_int8: bool = False
    """int4: keep the output head (the MatMul that makes the logits) and the embedding at
    int8. The head decides between tokens directly, so it is where 4-bit error shows most."""
    weight_only: bool = False
    """int8: 8-bit weights in blocks (``MatMulNBits`` with ``block_size`` and
    ``accuracy_level``) instead of dynamic quantization, which also rounds every activation
    tensor to 8 bits with one scale. On the planner (fourth-run adapter, hand-written set):
    86.0 % exact against dynamic int8's 83.5 % and fp32's 88.0 %."""
    gptq: bool = False
    """int4 and weight-only int8: choose the rounding of each weight block by GPTQ against
    the planner's real inputs (calibration) instead of rounding to nearest. Same operator
    and size on the device; slower to build."""
    eight_bit_share: float = 0.0
    """int4 with GPTQ: this share of the weight matrices, those whose output 4-bit rounding
    moves most on the calibration inputs, at 8 bits instead."""

    def describe(self) -> Quantization:
        if self.precision == "fp32":
            return Quantization(precision="fp32")
        if self.precision == "int8" and self.weight_only:
            return Quantization(
                precision="int8",
                block_size=self.block_size,
                accuracy_level=self.accuracy_level,
                symmetric=True,
                embedding_quantized=self.quantize_embedding,
                weight_only=True,
                gptq=self.gptq,
            )
        if self.precision == "int8":
            return Quantization(
                precision="int8",
                per_channel=self.per_channel,
                symmetric=False,  # u8 weights with zero points
                embedding_quantized=self.quantize_embedding,
            )
        return Quantization(
            precision="int4",
            block_size=self.block_size,
            accuracy_level=self.accuracy_level,
            symmetric=self.symmetric,
            embedding_quantized=self.quantize_embedding,
            head_int8=self.head_int8,
            gptq=self.gptq,
            eight_bit_share=self.eight_bit_share,
        )


def quantize(
    model: onnx.ModelProto, settings: QuantSettings, out_path: Path,
    calibration: Calibration | None = None, progress: bool = False,
) -> list[str]:  # fmt: skip
    """Write the quantized model to ``out_path``; return the file names written.
    ``calibration``: the token sequences GPTQ measures the layers on (``settings.gptq``);
    ``progress``: bars on stderr for GPTQ's minutes of work."""
    if settings.precision == "fp32":
        return save_model(model, out_path)
    blocks = settings.precision == "int4" or settings.weight_only
    if blocks and (settings.block_size < 16 or settings.block_size & (settings.block_size - 1)):
        raise ValueError(f"block size must be a power of two >= 16, got {settings.block_size}")
    if settings.gptq and not blocks:
        raise ValueError("GPTQ rounds block-wise weights: int4, or int8 with weight_only")
    if settings.gptq and calibration is None:
        raise ValueError("GPTQ needs calibration sequences")
    if not 0 <= settings.eight_bit_share <= 1:
        raise ValueError(f"the 8-bit share is a fraction, got {settings.eight_bit_share}")
    if settings.eight_bit_share and not (settings.gptq and settings.precision == "int4"):
        raise ValueError("an 8-bit share needs int4 with GPTQ (its error picks the weights)")
    if settings.precision == "int8" and settings.weight_only:
        return _int8_weights(model, settings, out_path, calibration, progress)
    if settings.precision == "int8":
        return _int8(model, settings, out_path)
    return _int4(model, settings, out_path, calibration, progress)


def _int8(model: onnx.ModelProto, settings: QuantSettings, out_path: Path) -> list[str]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    op_types = ["MatMul", "Gather"] if settings.quantize_embedding else ["MatMul"]
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        # quantize_dynamic wants a file; a model over 2 GB cannot be serialised in one piece.
        source = Path(tmp) / "fp32.onnx"
        external = len(save_model(model, source)) > 1
        quantize_dynamic(
            source,
            out_path,
            op_types_to_quantize=op_types,
            per_channel=settings.per_channel,
            # Unsigned weights: with signed per-channel weights onnxruntime 1.32's CPU
            # MatMulInteger gave garbage on SmolLM2 (perplexity 69 -> 9 million); u8 weights
            # gave the best agreement of the four combinations measured.
            weight_type=QuantType.QUInt8,
            use_external_data_format=external,
            extra_options={"MatMulConstBOnly": True},
        )
    return save_model(onnx.load(str(out_path)), out_path)


def _int8_weights(
    model: onnx.ModelProto, settings: QuantSettings, out_path: Path,
    calibration: Calibration | None, progress: bool,
) -> list[str]:  # fmt: skip
    # An 8-bit Gather does not exist (onnxruntime 1.32): the embedding stays float here.
    model = _block_weights(model, settings, calibration, bits=8, symmetric=True,
                           op_types=("MatMul",), progress=progress)  # fmt: skip
    if not settings.quantize_embedding:
        return save_model(model, out_path)
    # The token embedding, left as float, takes int8's dynamic quantization (a lookup: no
    # activations are rounded).
    return _int8(model, settings, out_path)


def _int4(
    model: onnx.ModelProto, settings: QuantSettings, out_path: Path,
    calibration: Calibration | None, progress: bool,
) -> list[str]:  # fmt: skip
    op_types: tuple[str, ...] = ("MatMul", "Gather") if settings.quantize_embedding else ("MatMul",)
    head = _head_matmul(model) if settings.head_int8 else None
    if settings.head_int8:
        op_types = ("MatMul",)
    model = _block_weights(model, settings, calibration, bits=4, symmetric=settings.symmetric,
                           op_types=op_types, exclude=[head] if head else None,
                           progress=progress)  # fmt: skip
    if not settings.head_int8:
        return save_model(model, out_path)
    # What int4 left as float (the head, the embedding) gets int8's dynamic quantization.
    return _int8(model, settings, out_path)


def _block_weights(
    model: onnx.ModelProto, settings: QuantSettings, calibration: Calibration | None, *,
    bits: int, symmetric: bool, op_types: tuple[str, ...], exclude: list[str] | None = None,
    progress: bool = False,
) -> onnx.ModelProto:  # fmt: skip
    """Block-wise weights: by GPTQ when asked (MatMuls only; the embedding is a lookup with
    no input to weigh its error by, so it is rounded to nearest), else all to nearest."""
    if not settings.gptq:
        return _matmul_nbits(model, settings, bits=bits, symmetric=symmetric,
                             op_types=op_types, exclude=exclude)  # fmt: skip
    from edge_agent_export import gptq

    assert calibration is not None  # quantize() checked
    model = gptq.apply(model, calibration, bits=bits, block_size=settings.block_size,
                       symmetric=symmetric, accuracy_level=settings.accuracy_level,
                       exclude=exclude or (), eight_bit_share=settings.eight_bit_share,
                       progress=progress)  # fmt: skip
    if "Gather" not in op_types:
        return model
    return _matmul_nbits(model, settings, bits=bits, symmetric=symmetric, op_types=("Gather",))


def _matmul_nbits(
    model: onnx.ModelProto, settings: QuantSettings, *, bits: int, symmetric: bool,
    op_types: tuple[str, ...], exclude: list[str] | None = None,
) -> onnx.ModelProto:  # fmt: skip
    """Block-wise weight-only quantization (MatMulNBits, GatherBlockQuantized)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    config = DefaultWeightOnlyQuantConfig(
        block_size=settings.block_size,
        is_symmetric=symmetric,
        accuracy_level=settings.accuracy_level,
        op_types_to_quantize=op_types,
        quant_axes=(("MatMul", 0), ("Gather", 1)),
        bits=bits,
    )
    quantizer = MatMulNBitsQuantizer(model, algo_config=config, nodes_to_exclude=exclude)
    # An all-zero block has scale 0; the quantizer handles it but numpy warns on the division.
    with np.errstate(divide="ignore", invalid="ignore"):
        quantizer.process()
    return quantizer.model.model  # type: ignore[no-any-return]


def _head_matmul(model: onnx.ModelProto) -> str:
    """The MatMul that makes the logits, found by walking back from the first output."""
    producers = {output: node for node in model.graph.node for output in node.output}
    name = model.graph.output[0].name
    for _ in range(8):
        node = producers.get(name)
        if node is None:
            break
        if node.op_type == "MatMul":
            return node.name
        name = node.input[0]
    raise ValueError("no MatMul found before the model's logits output")


def count_ops(model: onnx.ModelProto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts
