"""The bundle manifest: the one contract between the export tooling and the device.

A bundle is a folder holding ``manifest.json``, the ONNX model (and its external
weights), ``tokenizer.json`` and the export's quality report. The export side
writes this model; the device side validates it before it opens anything else.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1
MANIFEST_NAME = "manifest.json"

Precision = Literal["fp32", "int8", "int4"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceInfo(_Frozen):
    """Where the weights came from."""

    kind: Literal["builtin", "gguf", "checkpoint", "hub"]
    """How the source was named: a built-in name, a GGUF file, a local checkpoint or a hub id."""
    ref: str
    """The name, path or hub id as given."""
    sha256: str
    """Hash of the source weights file (GGUF) or of the checkpoint's weight files combined."""
    license: str | None = None
    """The license the weights are distributed under, when known."""


class Architecture(_Frozen):
    """Model facts the runtime needs to size its buffers."""

    model_type: str
    num_layers: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    max_position_embeddings: int = Field(gt=0)
    num_parameters: int = Field(ge=0)


class GraphIO(_Frozen):
    """Names of the ONNX graph's inputs and outputs."""

    kind: Literal["fused", "optimum"] = "optimum"
    """How the graph was made: onnxruntime-genai's builder (fused attention) or optimum."""

    input_ids: str = "input_ids"
    attention_mask: str = "attention_mask"
    position_ids: str | None = "position_ids"
    """None for architectures whose graph derives positions itself."""
    past_keys: list[str]
    past_values: list[str]
    present_keys: list[str]
    present_values: list[str]
    logits: str = "logits"
    logits_positions: str | None = None
    """Optional int64 input: how many trailing positions get logits. Defaults to 1 in the
    graph (generation); feed the sequence length to score every position."""
    kv_dtype: Literal["float32", "float16"] = "float32"


class Quantization(_Frozen):
    """How the weights were compressed."""

    precision: Precision
    per_channel: bool | None = None
    """int8 only: one scale per output channel instead of per tensor."""
    block_size: int | None = None
    """int4 and weight-only int8: weights per quantization block."""
    accuracy_level: int | None = None
    """int4 and weight-only int8: MatMulNBits accuracy_level (0 unset, 1 fp32, 2 fp16,
    3 bf16, 4 int8)."""
    symmetric: bool | None = None
    embedding_quantized: bool = False
    """Whether the token embedding (Gather) was quantized too."""
    head_int8: bool = False
    """int4 only: the output head and the token embedding kept at int8 (per channel)."""
    weight_only: bool = False
    """int8 only: 8-bit weights in blocks (MatMulNBits), activations not rounded to 8 bits
    between operators."""
    gptq: bool = False
    """Block-wise weights rounded by GPTQ on calibration requests, not to nearest."""
    eight_bit_share: float = 0.0
    """int4 with GPTQ: the share of weight matrices kept at 8 bits (those 4 bits moved most)."""


class Tokens(_Frozen):
    """Special token ids."""

    bos_id: int | None
    eos_ids: list[int]
    pad_id: int | None = None
    add_bos: bool
    """Whether prompts start with the BOS token."""
    stop_ids: list[int]
    """Generation stops at any of these (EOS plus end-of-turn tokens)."""


class GenerationDefaults(_Frozen):
    max_new_tokens: int = Field(default=128, gt=0)
    temperature: float = Field(default=0.0, ge=0.0)
    top_k: int = Field(default=0, ge=0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)


class FileEntry(_Frozen):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)


class Manifest(_Frozen):
    """Everything the device needs to know about a bundle, validated on load."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    source: SourceInfo
    architecture: Architecture
    io: GraphIO
    quantization: Quantization
    tokens: Tokens
    chat_template: str | None = None
    generation: GenerationDefaults = GenerationDefaults()
    model_file: str = "model.onnx"
    tokenizer_file: str = "tokenizer.json"
    report_file: str | None = "quality_report.json"
    files: dict[str, FileEntry]
    """sha256 and size of every file of the bundle except the manifest itself."""
    planner_prompt: Literal["few-shot", "instructions"] = "few-shot"
    """How the agent prompts this model: with worked examples, or, for a model fine-tuned
    on the planner's task, with the instructions only."""
    adapter: str | None = None
    """The fine-tuning adapter merged into the weights (name and sha256), if any."""
    planner_none_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """The planner answers "none" when this model gives naming no device at least this
    probability (calibrated with the adapter on held-out generated data), if set."""
    created_by: str
