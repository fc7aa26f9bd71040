"""The average of several LoRA adapters of one base, written as one exact LoRA adapter.

Adapters trained one after another from each other (``finetune --resume``) sit close
together in weight space, and the mean of their weight changes tends to generalize better
than any one of them ("model soups"). A LoRA change is ``scale * B @ A``; the mean of n of
them is ``[w1*s1*B1 | ... | wn*sn*Bn] @ [A1; ...; An]``, itself a LoRA of rank r1 + ... + rn
with scale 1. So the average is exact, merges like any adapter, and stays a few MB. Only
numpy and safetensors: no torch needed to make one.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent_export.errors import ExportError

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
# Config keys that must agree for two adapters' changes to land on the same weights.
_SAME = ("peft_type", "target_modules", "layers_to_transform", "fan_in_fan_out", "bias")


def _config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{folder}: not a LoRA adapter folder (no {CONFIG})") from None
    except ValueError as error:
        raise ExportError(f"{path}: not JSON ({error})") from error
    if not isinstance(config, dict) or config.get("peft_type") != "LORA":
        raise ExportError(f"{path}: not a LoRA adapter config")
    unsupported = [key for key in ("use_dora", "alpha_pattern", "rank_pattern") if config.get(key)]
    if unsupported:
        raise ExportError(f"{path}: cannot average adapters with {', '.join(unsupported)}")
    if config.get("modules_to_save"):
        raise ExportError(f"{path}: cannot average adapters with modules_to_save")
    return config


def _scale(config: dict[str, Any]) -> float:
    rank, alpha = config["r"], config["lora_alpha"]
    return float(alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank)


def _weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = folder / WEIGHTS
    if not path.is_file():
        raise ExportError(f"{path}: missing (the adapter's weights)")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ExportError(f"{path}: not a readable safetensors file ({error})") from error


def average(adapters: list[Path], out: Path, weights: list[float] | None = None) -> int:
    """Write the weighted mean of ``adapters``' weight changes to ``out``; its rank.

    ``weights`` default to equal shares and are normalized to sum to 1."""
    if len(adapters) < 2:
        raise ExportError("averaging needs at least two adapters")
    shares = [1.0] * len(adapters) if weights is None else list(weights)
    if len(shares) != len(adapters):
        raise ExportError(f"{len(shares)} weights for {len(adapters)} adapters")
    if any(not math.isfinite(w) or w <= 0 for w in shares):
        raise ExportError(f"weights must be positive numbers, got {shares}")
    shares = [w / sum(shares) for w in shares]
    configs = [_config(folder) for folder in adapters]
    for folder, config in zip(adapters[1:], configs[1:], strict=True):
        for key in _SAME:
            if config.get(key) != configs[0].get(key) and not (
                key == "target_modules" and set(config[key]) == set(configs[0][key])
            ):
                raise ExportError(f"{folder / CONFIG}: {key} differs from {adapters[0] / CONFIG}")
    tensors = [_weights(folder) for folder in adapters]
    for folder, found in zip(adapters[1:], tensors[1:], strict=True):
        if found.keys() != tensors[0].keys():
            raise ExportError(f"{folder / WEIGHTS}: adapts other layers than {adapters[0]}")
    merged: dict[str, np.ndarray] = {}
    for key, first in tensors[0].items():
        if ".lora_A." in key:
            merged[key] = np.concatenate([t[key] for t in tensors], axis=0)
        elif ".lora_B." in key:
            parts = [
                t[key].astype(np.float32) * share * _scale(config)
                for t, share, config in zip(tensors, shares, configs, strict=True)
            ]
            merged[key] = np.concatenate(parts, axis=1).astype(first.dtype)
        else:
            raise ExportError(f"{adapters[0] / WEIGHTS}: {key} is not a LoRA A or B weight")
    rank = sum(config["r"] for config in configs)
    config = {**configs[0], "r": rank, "lora_alpha": rank, "use_rslora": False}
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.numpy import save_file

    save_file(merged, str(out / WEIGHTS))
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return rank


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="edge-agent-export average",
        description="Average LoRA adapters of one base into one adapter (exact; rank adds up).",
    )
    parser.add_argument("adapters", type=Path, nargs="+", help="adapter folders")
    parser.add_argument("--out", type=Path, required=True, help="folder for the average")
    parser.add_argument(
        "--weights", type=float, nargs="+", help="a share for each adapter (default: equal)"
    )
    args = parser.parse_args(argv)
    try:
        rank = average(args.adapters, args.out, args.weights)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.out}: the average of {len(args.adapters)} adapters, rank {rank}")
    print("it has no planner.json: calibrate a none threshold with edge-agent eval --none-sweep")
    return 0
