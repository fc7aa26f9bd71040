"""Models past protobuf's 2 GB limit keep their weights in model.onnx.data.

A real 2 GB model is too slow for the default run, so the threshold is lowered to a few
kilobytes and a tiny model goes through the same code path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.llm.bundle import open_bundle
from edge_agent.llm.generate import Generator
from edge_agent.llm.onnx_lm import OnnxCausalLM
from edge_agent_export.build import build
from edge_agent_export.quantize import QuantSettings


@pytest.mark.parametrize("precision", ["fp32", "int8", "int4"])
def test_large_models_use_external_data(
    precision: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_checkpoint: Callable[[str], Path],
    tiny_bundle: Callable[[str, str], Path],
) -> None:
    single_file = open_bundle(tiny_bundle("llama", precision))  # built before the patch
    monkeypatch.setattr("edge_agent_export.onnx_graph.EXTERNAL_DATA_THRESHOLD_BYTES", 4096)
    out = tmp_path / "bundle"
    build(
        str(tiny_checkpoint("llama")),
        out,
        QuantSettings(precision=precision, block_size=16),  # type: ignore[arg-type]
        quiet=True,
    )
    bundle = open_bundle(out)
    assert {"model.onnx", "model.onnx.data"} <= set(bundle.manifest.files)
    assert "model.onnx.data" not in single_file.manifest.files
    assert bundle.model_path.stat().st_size < single_file.model_path.stat().st_size
    reference = OnnxCausalLM(single_file)

    def greedy(lm: OnnxCausalLM) -> list[int]:
        return Generator(lm).generate([5, 6, 7], max_new_tokens=8).token_ids

    assert greedy(OnnxCausalLM(bundle)) == greedy(reference)
