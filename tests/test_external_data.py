"""Bundles keep their weights in model.onnx.data, which onnxruntime maps instead of copying."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest

from edge_agent.llm.bundle import Bundle, open_bundle
from edge_agent.llm.generate import Generator
from edge_agent.llm.onnx_lm import OnnxCausalLM


@pytest.mark.parametrize("precision", ["fp32", "int8", "int4"])
def test_weights_live_in_the_external_data_file(
    precision: str, tmp_path: Path, tiny_bundle: Callable[[str, str], Path]
) -> None:
    bundle = open_bundle(tiny_bundle("llama", precision))
    files = {p.name for p in bundle.path.iterdir()}
    assert files == {"manifest.json", *bundle.manifest.files}, "a stray file in the bundle"
    graph = onnx.load(str(bundle.model_path), load_external_data=False).graph
    inline = [
        t.name
        for t in graph.initializer
        if t.data_location != onnx.TensorProto.EXTERNAL and len(t.raw_data) > 1024
    ]
    assert inline == []

    # The same graph with its weights inlined generates the same tokens: nothing was lost
    # or misplaced on the way out to the data file.
    inlined = tmp_path / "inlined"
    shutil.copytree(bundle.path, inlined)
    (inlined / "model.onnx.data").unlink()
    onnx.save_model(onnx.load(str(bundle.model_path)), str(inlined / "model.onnx"))

    def greedy(model_bundle: Bundle) -> list[int]:
        lm = OnnxCausalLM(model_bundle)
        return Generator(lm).generate([5, 6, 7], max_new_tokens=8).token_ids

    assert greedy(Bundle(inlined, bundle.manifest)) == greedy(bundle)
