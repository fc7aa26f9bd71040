"""Load a resolved source into a torch model and a ``tokenizers`` tokenizer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokenizers import Tokenizer, decoders, pre_tokenizers

from edge_agent.llm.manifest import Tokens
from edge_agent_export.errors import SourceError, UnsupportedArchitectureError
from edge_agent_export.gguf_tokenizer import read_vocab, sentencepiece_bpe_tokenizer
from edge_agent_export.sources import ResolvedSource

if TYPE_CHECKING:
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)

# model_type -> what users know it as. Each has a tiny-model test through the pipeline.
SUPPORTED_ARCHITECTURES = {
    "llama": "Llama, TinyLlama, SmolLM2",
    "mistral": "Mistral",
    "qwen2": "Qwen2, Qwen2.5",
    "phi3": "Phi-3 Mini",
    "gemma": "Gemma 2B / 7B",
    "gemma3_text": "Gemma 3 (text)",
}
# Tokens that end a chat turn in the families above.
_END_OF_TURN = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<|endoftext|>")


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: Tokenizer
    tokens: Tokens
    chat_template: str | None

    @property
    def model_type(self) -> str:
        return str(self.model.config.model_type)


def load(source: ResolvedSource) -> LoadedModel:
    """Load weights in fp32 and the matching tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    where: dict[str, Any] = {"pretrained_model_name_or_path": str(source.path or source.ref)}
    if source.is_gguf and source.path is not None:
        where = {
            "pretrained_model_name_or_path": str(source.path.parent),
            "gguf_file": source.path.name,
        }
    else:  # a cheap look at the config first; for GGUF that would mean reading it twice
        try:
            config = AutoConfig.from_pretrained(**where)
        except (OSError, ValueError, KeyError) as exc:
            raise SourceError(f"{source.ref}: cannot read the model config: {exc}") from exc
        check_architecture(str(config.model_type), source.ref)
    try:
        model = AutoModelForCausalLM.from_pretrained(**where, dtype=torch.float32)
    except Exception as exc:  # a damaged file fails deep inside gguf / safetensors readers
        hint = " (truncated or not a GGUF model?)" if source.is_gguf else ""
        raise SourceError(
            f"{source.ref}: cannot load the weights{hint}: {type(exc).__name__}: {exc}"
        ) from exc
    model.eval()
    check_architecture(str(model.config.model_type), source.ref)

    if source.is_gguf and source.path is not None:
        vocab = read_vocab(source.path)
        if vocab.model == "llama":
            tokenizer = sentencepiece_bpe_tokenizer(vocab)
        else:
            tokenizer = _plain_byte_level(AutoTokenizer.from_pretrained(**where).backend_tokenizer)
        ids = Ids(vocab.bos_id, [] if vocab.eos_id is None else [vocab.eos_id], vocab.pad_id)
        add_bos, chat_template = vocab.add_bos, vocab.chat_template
    else:
        hf_tokenizer = AutoTokenizer.from_pretrained(**where)
        if not getattr(hf_tokenizer, "is_fast", False):
            raise SourceError(f"{source.ref}: needs a fast tokenizer (tokenizer.json)")
        tokenizer = _plain_byte_level(hf_tokenizer.backend_tokenizer)
        ids = Ids(
            hf_tokenizer.bos_token_id,
            _as_list(hf_tokenizer.eos_token_id),
            hf_tokenizer.pad_token_id,
        )
        add_bos = ids.bos is not None and hf_tokenizer("a").input_ids[:1] == [ids.bos]
        chat_template = getattr(hf_tokenizer, "chat_template", None)
    # Special tokens are added by the runtime from the manifest, never by the tokenizer.
    tokenizer.post_processor = None
    tokens = special_tokens(model, tokenizer, ids, add_bos)
    return LoadedModel(model, tokenizer, tokens, chat_template)


@dataclass(frozen=True)
class Ids:
    """Special token ids as the tokenizer's own files give them."""

    bos: int | None
    eos: list[int]
    pad: int | None


def _as_list(value: object) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, list) else [int(value)]  # type: ignore[call-overload]


def check_architecture(model_type: str, ref: str) -> None:
    if model_type not in SUPPORTED_ARCHITECTURES:
        known = ", ".join(f"{k} ({v})" for k, v in SUPPORTED_ARCHITECTURES.items())
        raise UnsupportedArchitectureError(
            f"{ref}: architecture {model_type!r} is not supported; supported: {known}"
        )


def _plain_byte_level(tokenizer: Tokenizer) -> Tokenizer:
    """A copy whose decoder is plain ByteLevel when the pre-tokenizer is ByteLevel.

    transformers' GGUF conversion gives byte-level vocabularies a composite decoder
    (ByteFallback, Fuse, Replace, ByteLevel) that decodes the same text but misleads
    tools which read the decoder to map tokens to bytes (llguidance).
    """
    copy = Tokenizer.from_str(tokenizer.to_str())
    if _is_byte_level(copy.pre_tokenizer):
        copy.decoder = decoders.ByteLevel()
    return copy


def _is_byte_level(pre: object) -> bool:
    if isinstance(pre, pre_tokenizers.ByteLevel):
        return True
    if isinstance(pre, pre_tokenizers.Sequence):
        return any(_is_byte_level(p) for p in pre)  # type: ignore[attr-defined]
    return False


def special_tokens(model: PreTrainedModel, tokenizer: Tokenizer, ids: Ids, add_bos: bool) -> Tokens:
    """BOS / EOS from the tokenizer and model config; stops add the end-of-turn markers."""
    config = model.config
    generation = getattr(model, "generation_config", None)
    eos: list[int] = []
    for value in (getattr(generation, "eos_token_id", None), config.eos_token_id, ids.eos):
        for token in _as_list(value):
            if token not in eos:
                eos.append(token)
    stops = list(eos)
    for text in _END_OF_TURN:
        token = tokenizer.token_to_id(text)
        if token is not None and token not in stops:
            stops.append(token)
    bos = ids.bos if ids.bos is not None else config.bos_token_id
    return Tokens(
        bos_id=bos,
        eos_ids=eos,
        pad_id=ids.pad,
        add_bos=bool(add_bos and bos is not None),
        stop_ids=stops,
    )
