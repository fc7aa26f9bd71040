"""Tiny random-weight checkpoints of every supported architecture, built in-process.

Each is a real Hugging Face checkpoint folder (config, safetensors weights and a BPE
tokenizer trained on a few sentences), small enough to export and quantize in seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TRAINING_TEXT = [
    "Turn on the kitchen light.",
    "Dim the living room to forty percent.",
    "Is the garage door open?",
    "Set the bedroom thermostat to twenty one degrees.",
    "Close the blinds in the office, please.",
    "The capital of France is Paris.",
    "What is the temperature outside?",
    "Switch off every lamp downstairs.",
] * 4

# hidden 64, 2 layers, 4 heads (2 KV heads where the architecture allows grouped attention).
_COMMON: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
    "tie_word_embeddings": False,
}

ARCHITECTURES: dict[str, dict[str, Any]] = {
    "llama": {},
    "mistral": {"sliding_window": None},
    "qwen2": {},
    "phi3": {"pad_token_id": 0, "original_max_position_embeddings": 256},  # as Phi-3 Mini 4k
    "gemma": {"head_dim": 16, "tie_word_embeddings": True},
    "gemma3_text": {
        "head_dim": 16,
        "tie_word_embeddings": True,
        "sliding_window": 8,
        "query_pre_attn_scalar": 16,
    },
}


VARIANTS: dict[str, dict[str, Any]] = {
    # The planner's few-shot prompt is ~2,300 tokens with the tiny 400-token vocabulary.
    "llama_long_context": {"model_type": "llama", "max_position_embeddings": 4096},
}


def _train_tokenizer(vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<bos>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(TRAINING_TEXT, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"
    )


def build_tiny_checkpoint(model_type: str, out_dir: Path, seed: int = 0) -> Path:
    """Write a random-weight checkpoint of ``model_type`` to ``out_dir`` and return it."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tokenizer = _train_tokenizer(vocab_size=400)
    vocab = len(tokenizer)
    kwargs = {**_COMMON, **{**ARCHITECTURES, **VARIANTS}[model_type]}
    config = AutoConfig.for_model(
        kwargs.pop("model_type", model_type),
        vocab_size=vocab,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **kwargs,
    )
    if "pad_token_id" in kwargs:
        config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    # Random init gives near-uniform logits; widen them so greedy choices are not ties.
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4.0) if p.dim() > 1 else None
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)
