"""A fused decoder graph from onnxruntime-genai's model builder.

optimum's TorchScript export leaves attention as ~100 small ops per layer (about 3,100
nodes for SmolLM2 even after onnxruntime's own fusions); on a 2-core CPU their per-op
overhead, not the matrix work, sets the decode speed. The builder writes each layer
as GroupQueryAttention (rotary and KV concat inside), SkipSimplifiedLayerNormalization
and MatMuls: 341 nodes for SmolLM2 and about 3x the decode speed. It keeps the same
input / output contract (input_ids, attention_mask, past_key_values.N.key/value ->
logits, present.N.key/value), so the runtime is unchanged. The graph is built in fp32
and then goes through this project's own quantization, like the optimum graph.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import onnx
from tokenizers import Tokenizer

from edge_agent_export.errors import ExportError

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def build_fused_graph(
    model: PreTrainedModel, tokenizer: Tokenizer, workdir: Path
) -> onnx.ModelProto:
    checkpoint = workdir / "checkpoint"
    out = workdir / "fused"
    model.save_pretrained(checkpoint)
    tokenizer.save(str(checkpoint / "tokenizer.json"))
    builder = "onnxruntime_genai.models.builder"
    command = [sys.executable, "-m", builder, "-i", str(checkpoint), "-o", str(out),
               "-p", "fp32", "-e", "cpu", "-c", str(workdir / "hf-cache")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    graph = out / "model.onnx"
    if result.returncode != 0 or not graph.is_file():
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise ExportError(f"onnxruntime-genai's builder failed for "
                          f"{model.config.model_type}:\n{tail}")  # fmt: skip
    return onnx.load(str(graph))
