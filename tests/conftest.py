"""Shared fixtures: tiny checkpoints and bundles built once per test session."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # torch must not spin beside onnxruntime


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Build (once) a random-weight checkpoint of a model type."""
    from tiny_models import build_tiny_checkpoint

    cache: dict[str, Path] = {}

    def get(model_type: str) -> Path:
        if model_type not in cache:
            folder = tmp_path_factory.mktemp(f"ckpt-{model_type}")
            cache[model_type] = build_tiny_checkpoint(model_type, folder)
        return cache[model_type]

    return get


@pytest.fixture(scope="session")
def tiny_bundle(
    tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Callable[[str], Path]
) -> Callable[..., Path]:
    """Build (once) a bundle of a model type at a precision, with a graph kind."""
    from edge_agent_export.build import build
    from edge_agent_export.quantize import QuantSettings

    cache: dict[tuple[str, str, str], Path] = {}

    def get(model_type: str, precision: str = "fp32", graph: str = "fused") -> Path:
        key = (model_type, precision, graph)
        if key not in cache:
            out = tmp_path_factory.mktemp("bundles") / f"{model_type}-{precision}-{graph}"
            build(
                str(tiny_checkpoint(model_type)),
                out,
                QuantSettings(precision=precision, block_size=16),  # type: ignore[arg-type]
                quiet=True,
                graph=graph,  # type: ignore[arg-type]
            )
            cache[key] = out
        return cache[key]

    return get
