"""Calibration tokens for GPTQ: what the device's planner really shows the model.

GPTQ rounds each weight so that the layer's output moves least *on the inputs it is
measured on*, so those inputs should be the model's real job: the planner's instructions
(run once, as the device's prefix cache does), then requests of generated homes with the
answers the model is meant to write. They come from the dataset generator's **train**
families and homes, never the validation or test ones.
"""

from __future__ import annotations

from typing import Any

from edge_agent.llm.manifest import Manifest
from edge_agent_export.gptq import Calibration

CALIBRATION_SEED = 11
"""Not the training set's seed (7): other homes, the same kind of requests."""

CALIBRATION_REQUESTS = 512
"""int4 GPTQ of the default planner with 128 requests: 88.5 % hand-written, 74.5 % generated
validation; with 512: 89.0 % and 78.0 % (fp32: 89.5 / 79.0 %), for a few more minutes."""


def planner_calibration(
    tokenizer: Any, manifest: Manifest, *, count: int = CALIBRATION_REQUESTS
) -> Calibration:
    """``count`` planner requests (prompt and answer) as token ids, after one shared prefix."""
    from edge_agent_export.dataset import generate
    from edge_agent_export.finetune import examples_from, tokenize

    if count < 1:
        raise ValueError(f"calibration needs at least one request, got {count}")
    dataset = generate(homes=max(12, count // 8), train=count, validation=0, test=0,
                       seed=CALIBRATION_SEED)  # fmt: skip
    examples, _ = examples_from(dataset.sets["train"], manifest.planner_prompt)
    if not examples:
        raise ValueError("the dataset generator gave no calibration requests")
    tokens = manifest.tokens
    bos = [tokens.bos_id] if tokens.add_bos and tokens.bos_id is not None else []
    prefix = bos + tokenizer.encode(examples[0].prefix).ids
    suffixes = []
    for example in examples:
        ids, _ = tokenize(tokenizer, bos, example)
        if ids[: len(prefix)] != prefix:  # the prefix is computed once, for every request
            raise ValueError("calibration requests do not share the planner's prefix")
        suffixes.append(ids[len(prefix) :])
    arch = manifest.architecture
    # A model with a short context (the tests' tiny ones) sees the start of each sequence.
    room = arch.max_position_embeddings
    prefix = prefix[: room // 2]
    suffixes = [s[: room - len(prefix)] for s in suffixes]
    return Calibration(prefix, suffixes, manifest.io, arch.num_kv_heads, arch.head_dim)
