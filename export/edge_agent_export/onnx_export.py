"""torch model -> one ONNX decoder graph with KV cache, edited for on-device generation."""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import onnx
from tokenizers import Tokenizer

from edge_agent.llm.manifest import Architecture, GraphIO
from edge_agent_export.errors import ExportError
from edge_agent_export.onnx_graph import (
    LOGITS_POSITIONS,
    find_lm_head,
    slice_logits_to_last_positions,
    untie_transposed_head,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)
TASK = "text-generation-with-past"
GraphKind = Literal["fused", "optimum"]
# Opset 21 / IR 10 carry the int4 types that MatMulNBits and GatherBlockQuantized use;
# exporting at a lower opset makes the 4-bit quantizer force an upgrade it cannot check.
OPSET = 21


def export_decoder(
    model: PreTrainedModel, tokenizer: Tokenizer, workdir: Path, graph: GraphKind = "fused"
) -> onnx.ModelProto:
    """Export the decoder and return the edited graph, weights loaded in memory."""
    if graph == "fused":
        from edge_agent_export.fused_graph import build_fused_graph

        proto = build_fused_graph(model, tokenizer, Path(tempfile.mkdtemp(dir=workdir)))
    else:
        proto = _optimum_graph(model, workdir)
    head = find_lm_head(proto.graph)
    if untie_transposed_head(proto, head):
        log.info("tied LM head given its own constant so it can be quantized")
    slice_logits_to_last_positions(proto, head)
    return proto


def _optimum_graph(model: PreTrainedModel, workdir: Path) -> onnx.ModelProto:
    from optimum.exporters.onnx import onnx_export_from_model

    out = Path(tempfile.mkdtemp(dir=workdir, prefix="optimum-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter on every export
        try:
            onnx_export_from_model(model, out, task=TASK, opset=OPSET, do_validation=False)
        except (ValueError, KeyError, NotImplementedError) as exc:
            raise ExportError(f"optimum could not export {model.config.model_type}: {exc}") from exc
    graph_path = out / "model.onnx"
    if not graph_path.is_file():
        raise ExportError(f"optimum wrote no model.onnx in {out}")
    return onnx.load(str(graph_path))


def describe_graph(proto: onnx.ModelProto, kind: GraphKind) -> GraphIO:
    inputs = [i.name for i in proto.graph.input]
    outputs = [o.name for o in proto.graph.output]
    past_keys = sorted((n for n in inputs if n.endswith(".key")), key=_layer_index)
    past_values = sorted((n for n in inputs if n.endswith(".value")), key=_layer_index)
    present_keys = sorted((n for n in outputs if n.endswith(".key")), key=_layer_index)
    present_values = sorted((n for n in outputs if n.endswith(".value")), key=_layer_index)
    if (
        not past_keys
        or len({len(past_keys), len(past_values), len(present_keys), len(present_values)}) != 1
    ):
        raise ExportError(f"unexpected KV-cache inputs/outputs: {inputs} -> {outputs}")
    return GraphIO(
        kind=kind,
        position_ids="position_ids" if "position_ids" in inputs else None,
        past_keys=past_keys,
        past_values=past_values,
        present_keys=present_keys,
        present_values=present_values,
        logits_positions=LOGITS_POSITIONS,
    )


def _layer_index(name: str) -> int:
    return int(name.split(".")[-2])


def describe_architecture(model: PreTrainedModel, proto: onnx.ModelProto) -> Architecture:
    config = model.config
    first_past = next(i for i in proto.graph.input if i.name.endswith(".key"))
    dims = first_past.type.tensor_type.shape.dim  # [batch, kv_heads, past, head_dim]
    return Architecture(
        model_type=str(config.model_type),
        num_layers=int(config.num_hidden_layers),
        num_attention_heads=int(config.num_attention_heads),
        num_kv_heads=int(dims[1].dim_value),
        head_dim=int(dims[3].dim_value),
        hidden_size=int(config.hidden_size),
        vocab_size=int(config.vocab_size),
        max_position_embeddings=int(config.max_position_embeddings),
        num_parameters=int(sum(p.numel() for p in model.parameters())),
    )
