"""Averaging LoRA adapters: the merged average is exactly the average of the merged weights."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent_export.__main__ import main as export_main
from edge_agent_export.adapter_average import average
from edge_agent_export.errors import ExportError


def _adapter(checkpoint: Path, out: Path, seed: int, rank: int, alpha: int) -> Path:
    """A LoRA adapter with random (not zero) B, as if trained, saved in half precision
    like ``finetune`` saves them."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from edge_agent_export.finetune import _save_adapter

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint))
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=["q_proj", "down_proj"],
                        init_lora_weights=False, task_type="CAUSAL_LM")  # fmt: skip
    _save_adapter(get_peft_model(model, config), out)
    return out


def _merged(checkpoint: Path, adapter: Path | None) -> dict[str, object]:
    from transformers import AutoModelForCausalLM

    from edge_agent_export.finetune import merge_adapter

    model = AutoModelForCausalLM.from_pretrained(str(checkpoint))
    if adapter is not None:
        model = merge_adapter(model, adapter)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_the_average_merges_to_the_average_of_the_merged_weights(
    tmp_path: Path, tiny_checkpoint: Callable[[str], Path]
) -> None:
    import torch

    checkpoint = tiny_checkpoint("llama")
    # Different ranks and scales: each adapter's own alpha / r must be carried over.
    first = _adapter(checkpoint, tmp_path / "a", seed=1, rank=4, alpha=8)
    second = _adapter(checkpoint, tmp_path / "b", seed=2, rank=8, alpha=8)
    out = tmp_path / "avg"
    args = [str(first), str(second), "--out", str(out), "--weights", "1", "3"]
    assert export_main(["average", *args]) == 0
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 12

    base, one, two, both = (_merged(checkpoint, a) for a in (None, first, second, out))
    changed = [k for k in base if not torch.equal(one[k], base[k])]
    assert changed and all("q_proj" in k or "down_proj" in k for k in changed)
    for key in base:
        expected = base[key] + 0.25 * (one[key] - base[key]) + 0.75 * (two[key] - base[key])
        torch.testing.assert_close(both[key], expected, rtol=0, atol=2e-3)
    # And not the plain mean: the shares count.
    key = changed[0]
    assert not torch.allclose(both[key], (one[key] + two[key]) / 2, atol=1e-3)


def test_adapters_that_cannot_be_averaged_are_refused_by_name(tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    def folder(name: str, config: dict[str, object], keys: list[str]) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "adapter_config.json").write_text(json.dumps(config))
        save_file({k: np.ones((2, 2), np.float16) for k in keys},
                  str(path / "adapter_model.safetensors"))  # fmt: skip
        return path

    lora = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}
    keys = ["m.q_proj.lora_A.weight", "m.q_proj.lora_B.weight"]
    good = folder("good", lora, keys)
    other_targets = folder("other", {**lora, "target_modules": ["v_proj"]}, keys)
    other_layers = folder("layers", lora, ["m.v_proj.lora_A.weight", "m.v_proj.lora_B.weight"])
    dora = folder("dora", {**lora, "use_dora": True}, keys)
    broken = folder("broken", lora, keys)
    (broken / "adapter_model.safetensors").write_bytes(b"not safetensors")

    cases = [
        ([good], "at least two"),
        ([good, tmp_path], "no adapter_config.json"),
        ([good, other_targets], "other/adapter_config.json: target_modules differs"),
        ([good, other_layers], "layers/adapter_model.safetensors: adapts other layers"),
        ([good, dora], "dora/adapter_config.json: cannot average adapters with use_dora"),
        ([good, broken], "broken/adapter_model.safetensors: not a readable safetensors"),
    ]
    for adapters, message in cases:
        with pytest.raises(ExportError, match=message):
            average(adapters, tmp_path / "out")
    with pytest.raises(ExportError, match="2 weights for 3 adapters"):
        average([good, good, good], tmp_path / "out", [1, 2])
    with pytest.raises(ExportError, match="positive"):
        average([good, good], tmp_path / "out", [1, 0])
    assert not (tmp_path / "out").exists()  # nothing written on a refusal
    assert average([good, good], tmp_path / "out") == 4
