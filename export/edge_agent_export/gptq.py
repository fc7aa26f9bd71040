"""GPTQ: block-quantized weights chosen against the activations the model really sees.

Round-to-nearest rounds every weight on its own. GPTQ (Frantar et al., 2022) rounds one
input column of a weight at a time and pushes each column's rounding error onto the
columns not yet rounded, weighted by the inverse of the layer's input Hessian
(``X^T X`` over calibration tokens), so the layer's *output* on real inputs moves as
little as it can. Each block's scale is also searched (a few clipping ratios), scoring
the error by how strongly the calibration activations drive each input channel.

The result is written in onnxruntime's ``MatMulNBits`` format (the same operator
round-to-nearest produces), so the device runs it unchanged.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import onnx
from onnx import numpy_helper
from tqdm import tqdm

from edge_agent.llm.manifest import GraphIO

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

    from edge_agent.llm.onnx_lm import KVStore

log = logging.getLogger(__name__)

Float64 = npt.NDArray[np.float64]

LAZY_COLUMNS = 128
"""Columns whose error is applied to the rest of the matrix at once (GPTQ's lazy batch)."""

CLIP_RATIOS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75)
"""Shares of a block's range tried for its scale; the one with the least weighted error wins."""


@dataclass(frozen=True)
class Calibration:
    """Token sequences to measure layer inputs on: one shared prefix, run once, and the
    suffixes run after it (the planner's instructions, then each request and answer)."""

    prefix: list[int]
    suffixes: list[list[int]]
    io: GraphIO
    num_kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class BlockWeight:
    """A ``[K, N]`` weight as MatMulNBits stores it: codes per output row and input block."""

    codes: npt.NDArray[np.uint8]
    """[N, K rounded up to whole blocks], each 0 .. 2**bits - 1."""
    scales: npt.NDArray[np.float32]
    """[N, blocks]"""
    zero_points: npt.NDArray[np.uint8] | None
    """[N, blocks]; None for symmetric (the operator's implicit 2**(bits-1))."""
    bits: int
    block_size: int
    k: int

    def dequantize(self) -> npt.NDArray[np.float32]:
        n, padded = self.codes.shape
        zero = 2 ** (self.bits - 1) if self.zero_points is None else self.zero_points
        zeros = np.broadcast_to(np.asarray(zero, dtype=np.float32), self.scales.shape)
        blocks = self.codes.reshape(n, -1, self.block_size).astype(np.float32)
        values = (blocks - zeros[:, :, None]) * self.scales[:, :, None]
        return np.ascontiguousarray(values.reshape(n, padded)[:, : self.k].T)


def quantize_weight(
    weight: npt.NDArray[np.float32], hessian: Float64, *, bits: int, block_size: int,
    symmetric: bool, damp: float = 0.01, act_order: bool = False,
) -> BlockWeight:  # fmt: skip
    """GPTQ of one ``[K, N]`` weight (y = x @ W) given ``hessian`` = mean of x^T x, [K, K].

    ``act_order``: round the inputs that fire hardest first, while the most columns are
    left to absorb their error. A block's columns are then no longer visited together, so
    every block's scale is fixed up front from the unrounded weights ("static groups")."""
    k, n = weight.shape
    w = weight.T.astype(np.float64)  # rows: outputs; columns: the inputs GPTQ walks through
    h = hessian.astype(np.float64).copy()
    dead = np.diag(h) == 0  # an input that never fires: its weights do not matter
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h[np.diag_indices(k)] += damp * float(np.mean(np.diag(h)))
    importance = np.diag(h).copy()

    blocks = -(-k // block_size)
    codes = np.zeros((n, blocks * block_size), dtype=np.uint8)
    codes[:, k:] = 0 if not symmetric else 2 ** (bits - 1)
    scales = np.ones((n, blocks))
    zeros = np.zeros((n, blocks))
    order = np.arange(k)
    if act_order:
        for b in range(blocks):
            cols = slice(b * block_size, min((b + 1) * block_size, k))
            scales[:, b], zeros[:, b] = _block_params(w[:, cols], importance[cols], bits=bits,
                                                      symmetric=symmetric)  # fmt: skip
        order = np.argsort(-importance, kind="stable")
        w, h = w[:, order], h[order][:, order]
    upper = _upper_cholesky_of_inverse(h)

    lazy = max(LAZY_COLUMNS, block_size) // block_size * block_size
    for start in range(0, k, lazy):
        stop = min(start + lazy, k)
        work = w[:, start:stop].copy()
        errors = np.zeros_like(work)
        inverse = upper[start:stop, start:stop]
        for i in range(stop - start):
            column = int(order[start + i])
            block = column // block_size
            if not act_order and column % block_size == 0:
                # Lazy batches hold whole blocks, so the block's columns are all in `work`.
                group = slice(i, min(i + block_size, stop - start))
                scales[:, block], zeros[:, block] = _block_params(
                    work[:, group], importance[start + group.start : start + group.stop],
                    bits=bits, symmetric=symmetric,
                )  # fmt: skip
            scale, zero = scales[:, block], zeros[:, block]
            q = np.clip(np.rint(work[:, i] / scale) + zero, 0, 2**bits - 1)
            codes[:, column] = q
            error = (work[:, i] - (q - zero) * scale) / inverse[i, i]
            work[:, i:] -= np.outer(error, inverse[i, i:])
            errors[:, i] = error
        w[:, stop:] -= errors @ upper[start:stop, stop:]
    zero_points = None if symmetric else zeros.astype(np.uint8)
    return BlockWeight(codes, scales.astype(np.float32), zero_points, bits, block_size, k)


def relative_output_error(
    weight: npt.NDArray[np.float32], quantized: BlockWeight, hessian: Float64
) -> float:
    """How far the rounded weight moves the layer's output on the calibration inputs, as a
    share of the output: tr(D^T H D) / tr(W^T H W), D = W - Q."""
    w = weight.astype(np.float64)
    d = w - quantized.dequantize()
    return float(np.sum((hessian @ d) * d) / max(float(np.sum((hessian @ w) * w)), 1e-30))


def _upper_cholesky_of_inverse(h: Float64) -> Float64:
    """U with H^-1 = U^T U; more damping if H is not positive definite in floating point."""
    for extra in (0.0, 1e-4, 1e-3, 1e-2, 1e-1):
        try:
            damped = h + extra * float(np.mean(np.diag(h))) * np.eye(len(h))
            inverse = np.linalg.inv(np.linalg.cholesky(damped))
            return np.linalg.cholesky(inverse.T @ inverse).T  # type: ignore[no-any-return]
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("the calibration Hessian is not positive definite")


def _block_params(
    block: Float64, importance: Float64, *, bits: int, symmetric: bool
) -> tuple[Float64, Float64]:
    """Scale and zero point per row of a ``[N, block]`` slice, the clip ratio chosen by the
    error weighted with each input's importance (its Hessian diagonal)."""
    top = 2**bits - 1
    best_error = np.full(block.shape[0], np.inf)
    best_scale = np.ones(block.shape[0])
    best_zero = np.zeros(block.shape[0])
    for ratio in CLIP_RATIOS:
        if symmetric:
            # The element of largest magnitude, with its sign, maps to the lowest code, as
            # onnxruntime's own symmetric quantizer does: all 2**bits codes are used.
            extreme = np.take_along_axis(block, np.abs(block).argmax(1)[:, None], 1)[:, 0]
            scale = extreme * ratio / -(2 ** (bits - 1))
            zero = np.full(block.shape[0], 2.0 ** (bits - 1))
        else:
            low = np.minimum(block.min(1), 0.0) * ratio
            high = np.maximum(block.max(1), 0.0) * ratio
            scale = (high - low) / top
            zero = np.clip(np.rint(-low / np.where(scale == 0, 1, scale)), 0, top)
        scale = np.where(scale == 0, 1.0, scale)
        q = np.clip(np.rint(block / scale[:, None]) + zero[:, None], 0, top)
        error = (((q - zero[:, None]) * scale[:, None] - block) ** 2 * importance).sum(1)
        better = error < best_error
        best_error = np.where(better, error, best_error)
        best_scale = np.where(better, scale, best_scale)
        best_zero = np.where(better, zero, best_zero)
    return best_scale, best_zero


def matmul_nbits(
    node: onnx.NodeProto, weight: BlockWeight, accuracy_level: int
) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    """The MatMulNBits node (and its initializers) that replaces MatMul ``node``."""
    n, padded = weight.codes.shape
    blocks = padded // weight.block_size
    name = node.input[1]
    codes = weight.codes.reshape(n, blocks, weight.block_size)
    if weight.bits == 4:
        codes = codes[:, :, 0::2] | (codes[:, :, 1::2] << 4)  # low nibble first
    packed = np.ascontiguousarray(codes, dtype=np.uint8)
    tensors = [
        numpy_helper.from_array(packed, f"{name}_Q{weight.bits}"),
        numpy_helper.from_array(weight.scales.reshape(-1).astype(np.float32), f"{name}_scales"),
    ]
    if weight.zero_points is not None:
        zeros = weight.zero_points
        if weight.bits == 4:
            zeros = np.pad(zeros, ((0, 0), (0, blocks % 2)), constant_values=8)
            zeros = zeros[:, 0::2] | (zeros[:, 1::2] << 4)
        tensors.append(numpy_helper.from_array(zeros.reshape(-1).astype(np.uint8), f"{name}_zp"))
    new = onnx.helper.make_node(
        "MatMulNBits",
        [node.input[0], *(t.name for t in tensors)],
        list(node.output),
        name=f"{node.name}_Q{weight.bits}",
        domain="com.microsoft",
        K=weight.k,
        N=n,
        bits=weight.bits,
        block_size=weight.block_size,
        accuracy_level=accuracy_level,
    )
    return new, tensors


def weight_matmuls(model: onnx.ModelProto, exclude: Iterable[str] = ()) -> list[onnx.NodeProto]:
    """MatMul nodes whose second input is a 2-D constant: the ones quantization replaces."""
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    skip = set(exclude)
    return [
        node for node in model.graph.node
        if node.op_type == "MatMul" and node.name not in skip
        and len(shapes.get(node.input[1], ())) == 2
    ]  # fmt: skip


def collect_hessians(
    model: onnx.ModelProto, calibration: Calibration, inputs: Sequence[str],
    progress: bool = False,
) -> dict[str, Float64]:  # fmt: skip
    """Mean ``x^T x`` of each named tensor over the calibration tokens (the prefix once,
    every suffix after it)."""
    import onnxruntime as ort

    from edge_agent.llm.onnx_lm import KVStore

    augmented = onnx.ModelProto()
    augmented.CopyFrom(model)
    known = {o.name for o in augmented.graph.output}
    augmented.graph.output.extend(
        onnx.ValueInfoProto(name=name) for name in inputs if name not in known
    )
    sums = _GramSums(inputs)
    with tempfile.TemporaryDirectory() as tmp:
        from edge_agent_export.onnx_graph import save_model

        path = Path(tmp) / "calibrate.onnx"
        save_model(augmented, path)
        del augmented
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        io = calibration.io
        longest = max((len(s) for s in calibration.suffixes), default=0)
        store = KVStore(len(io.past_keys), calibration.num_kv_heads,
                        len(calibration.prefix) + longest, calibration.head_dim)  # fmt: skip
        after = len(calibration.prefix)
        runs = [(calibration.prefix, 0), *((s, after) for s in calibration.suffixes)]
        for ids, past in tqdm(runs, desc="GPTQ calibration", unit="seq", leave=False,
                              disable=not progress, file=sys.stderr):  # fmt: skip
            if not ids:
                continue
            sums.add(_run(session, io, store, ids, past=past, names=inputs))
    return sums.means()


class _GramSums:
    """Running ``x^T x`` per tensor. Rows are pooled until there are ``POOL_ROWS`` of them:
    one large product instead of many small ones (a request is ~100 tokens) is several
    times faster, and float64 sums keep thousands of additions exact enough."""

    POOL_ROWS = 1024

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.sums: dict[str, Float64] = {}
        self.pending: dict[str, list[npt.NDArray[np.float32]]] = {n: [] for n in self.names}
        self.pending_rows = 0
        self.rows = 0

    def add(self, values: Sequence[npt.NDArray[np.float32]]) -> None:
        for name, value in zip(self.names, values, strict=True):
            self.pending[name].append(value.reshape(-1, value.shape[-1]))
        rows = values[0].reshape(-1, values[0].shape[-1]).shape[0] if values else 0
        self.pending_rows += rows
        self.rows += rows
        if self.pending_rows >= self.POOL_ROWS:
            self._flush()

    def _flush(self) -> None:
        for name, parts in self.pending.items():
            if not parts:
                continue
            x = np.concatenate(parts).astype(np.float32, copy=False)
            product = (x.T @ x).astype(np.float64)
            if name in self.sums:
                self.sums[name] += product
            else:
                self.sums[name] = product
            parts.clear()
        self.pending_rows = 0

    def means(self) -> dict[str, Float64]:
        self._flush()
        return {name: total / max(self.rows, 1) for name, total in self.sums.items()}


def _run(
    session: InferenceSession, io: GraphIO, kv: KVStore, ids: list[int], *, past: int,
    names: Sequence[str],
) -> list[npt.NDArray[np.float32]]:  # fmt: skip
    """One forward pass of ``ids`` after ``past`` cached positions, returning ``names``
    (the head sees every position: it is measured too)."""
    from edge_agent.llm.onnx_lm import bind_in_place, graph_feeds

    total = past + len(ids)
    feeds = graph_feeds(io, ids, past, logits_positions=len(ids))
    if io.kind == "fused":
        binding = session.io_binding()
        bind_in_place(binding, io, kv, feeds)
        for name in names:
            binding.bind_output(name)
        session.run_with_iobinding(binding)
        return [o.numpy() for o in binding.get_outputs()[-len(names) :]]
    # An unfused graph returns new arrays: keep them as the next run's past.
    for i, (k_name, v_name) in enumerate(zip(io.past_keys, io.past_values, strict=True)):
        feeds[k_name] = kv.keys[i][:, :, :past]
        feeds[v_name] = kv.values[i][:, :, :past]
    presents = [*io.present_keys, *io.present_values]
    outputs = session.run([*presents, *names], feeds)
    layers = len(io.present_keys)
    for i in range(layers):
        kv.keys[i][:, :, :total] = outputs[i]
        kv.values[i][:, :, :total] = outputs[layers + i]
    return [np.asarray(o) for o in outputs[len(presents) :]]


def apply(
    model: onnx.ModelProto, calibration: Calibration, *, bits: int, block_size: int,
    symmetric: bool, accuracy_level: int, exclude: Iterable[str] = (), act_order: bool = True,
    eight_bit_share: float = 0.0, progress: bool = False,
) -> onnx.ModelProto:  # fmt: skip
    """Replace every constant-weight MatMul (but ``exclude``) by a GPTQ MatMulNBits.

    ``eight_bit_share``: that share of the weights, those whose output GPTQ moves most at
    ``bits`` (relative to the output itself, on the calibration inputs), get 8 bits."""
    nodes = weight_matmuls(model, exclude)
    inputs = sorted({node.input[0] for node in nodes})
    log.info("GPTQ: %d weights, %d distinct inputs, %d calibration sequences",
             len(nodes), len(inputs), len(calibration.suffixes))  # fmt: skip
    hessians = collect_hessians(model, calibration, inputs, progress)
    initializers = {t.name: t for t in model.graph.initializer}

    def rounded(node: onnx.NodeProto, node_bits: int) -> tuple[BlockWeight, float]:
        weight = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32)
        hessian = hessians[node.input[0]]
        quantized = quantize_weight(weight, hessian, bits=node_bits, block_size=block_size,
                                    symmetric=symmetric, act_order=act_order)  # fmt: skip
        return quantized, relative_output_error(weight, quantized, hessian)

    replaced: dict[str, tuple[onnx.NodeProto, list[onnx.TensorProto]]] = {}
    errors: dict[str, float] = {}
    for node in tqdm(nodes, desc="GPTQ weights", unit="weight", leave=False,
                     disable=not progress, file=sys.stderr):  # fmt: skip
        quantized, errors[node.name] = rounded(node, bits)
        replaced[node.name] = matmul_nbits(node, quantized, accuracy_level)
    wider = sorted(errors, key=errors.__getitem__, reverse=True)
    wider = wider[: round(eight_bit_share * len(nodes))] if bits < 8 else []
    for node in (n for n in nodes if n.name in wider):
        replaced[node.name] = matmul_nbits(node, rounded(node, 8)[0], accuracy_level)
    if wider:
        log.info("GPTQ: %d weights at 8 bits (output error at %d bits %.2g-%.2g %%)",
                 len(wider), bits, 100 * errors[wider[-1]], 100 * errors[wider[0]])  # fmt: skip
    used = {node.input[1] for node in nodes}
    still_needed = {i for n in model.graph.node if n.name not in replaced for i in n.input}
    kept = [t for t in model.graph.initializer if t.name not in used or t.name in still_needed]
    new_nodes = [replaced[n.name][0] if n.name in replaced else n for n in model.graph.node]
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    model.graph.initializer.extend(t for _, tensors in replaced.values() for t in tensors)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    return model
