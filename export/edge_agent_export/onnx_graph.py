"""Edits of the exported decoder graph that make it cheaper to run on a device.

* The LM head is computed only for the last position(s): during generation only the
  last token's logits are used, and projecting every prompt position onto a 50k-260k
  vocabulary dominates prefill time and memory.
* A tied LM head whose weight is a ``Transpose`` of the embedding gets its own
  constant so weight-only quantizers can see and quantize it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_agent_export.errors import ExportError

LOGITS_POSITIONS = "logits_positions"
_PASS_THROUGH = {"Div", "Tanh", "Mul", "Cast", "Add", "Identity"}


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in graph.node for out in node.output}


def find_lm_head(graph: onnx.GraphProto, logits: str = "logits") -> onnx.NodeProto:
    """The MatMul that projects hidden states onto the vocabulary."""
    producers = _producers(graph)
    name = logits
    for _ in range(8):  # logits soft-capping adds a few elementwise ops after the head
        node = producers.get(name)
        if node is None:
            break
        if node.op_type in ("MatMul", "Gemm", "MatMulNBits"):
            return node
        if node.op_type not in _PASS_THROUGH:
            break
        name = node.input[0]
    raise ExportError(f"could not find the LM head MatMul behind the {logits!r} output")


def untie_transposed_head(model: onnx.ModelProto, head: onnx.NodeProto) -> bool:
    """Replace ``MatMul(h, Transpose(W))`` by ``MatMul(h, W_t)`` with ``W_t`` a constant."""
    graph = model.graph
    producer = _producers(graph).get(head.input[1])
    inits = {init.name: init for init in graph.initializer}
    if producer is None or producer.op_type != "Transpose" or producer.input[0] not in inits:
        return False
    weight = numpy_helper.to_array(inits[producer.input[0]])
    name = head.input[1] + "_const"
    graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight.T), name))
    head.input[1] = name
    if not any(producer.output[0] in node.input for node in graph.node):
        graph.node.remove(producer)
    return True


def slice_logits_to_last_positions(model: onnx.ModelProto, head: onnx.NodeProto) -> None:
    """Feed the LM head only the last ``logits_positions`` positions (default 1).

    ``logits_positions`` is a required int64 input of shape [1]: generation feeds 1, a
    scorer feeds the sequence length to get every position. (An initializer-backed
    default would make onnxruntime warn and skip constant folding around it.)
    """
    graph = model.graph
    hidden = head.input[0]
    sliced = hidden + "_last_positions"
    graph.initializer.extend(
        [
            numpy_helper.from_array(
                np.array([np.iinfo(np.int64).max], np.int64), "edge_agent.lp_end"
            ),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "edge_agent.lp_axis"),
        ]
    )
    graph.input.append(helper.make_tensor_value_info(LOGITS_POSITIONS, TensorProto.INT64, [1]))
    index = list(graph.node).index(head)
    graph.node.insert(index, helper.make_node("Neg", [LOGITS_POSITIONS], ["edge_agent.lp_start"]))
    graph.node.insert(
        index + 1,
        helper.make_node(
            "Slice",
            [hidden, "edge_agent.lp_start", "edge_agent.lp_end", "edge_agent.lp_axis"],
            [sliced],
        ),
    )
    head.input[0] = sliced
    for output in graph.output:
        if output.name == "logits":
            dims = output.type.tensor_type.shape.dim
            if len(dims) == 3:
                dims[1].ClearField("dim_value")
                dims[1].dim_param = "logits_length"


def save_model(model: onnx.ModelProto, path: Path) -> list[str]:
    """Save the graph to ``path`` and its weights to ``<name>.data`` beside it.

    Always external: onnxruntime maps external weights from the file instead of copying
    them out of the parsed protobuf, so pages it never reads (most embedding rows, unused
    rotary positions) and weights it repacks never count against the device's memory
    (Gemma 3 270M int4: 459 -> 259 MB resident after loading). It also lifts protobuf's
    2 GB limit. Returns the file names written, relative to the model's folder.
    """
    data_name = path.name + ".data"
    # Saving with external data rewrites the tensors of the proto it is given into
    # references; work on a copy so the caller's model stays whole.
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    # onnx appends to an existing data file: saving over a model (as the int8 path does
    # after quantize_dynamic) doubled the file (the default int8 bundle was 332 MB for
    # 166 MB of weights). The model to save is fully in memory, so the old file can go.
    (path.parent / data_name).unlink(missing_ok=True)
    onnx.save_model(
        copy,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data_name,
        size_threshold=1024,
    )
    return [path.name, data_name]
