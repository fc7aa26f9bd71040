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
    # ...and the data file holds those weights once (onnx appends when saving over a file).
    referenced = 0
    for tensor in graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            entry = {e.key: e.value for e in tensor.external_data}
            referenced = max(referenced, int(entry["offset"]) + int(entry["length"]))
    assert (bundle.path / "model.onnx.data").stat().st_size <= referenced + 4096

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


def test_saving_over_a_model_replaces_its_data_file(
    tmp_path: Path, tiny_bundle: Callable[[str, str], Path]
) -> None:
    """onnx appends to an existing data file; the int8 build saves over quantize_dynamic's
    output, which once left the default bundle at twice its size."""
    from edge_agent_export.onnx_graph import save_model

    model = onnx.load(str(open_bundle(tiny_bundle("llama", "fp32")).model_path))
    path = tmp_path / "model.onnx"
    save_model(model, path)
    once = (tmp_path / "model.onnx.data").stat().st_size
    save_model(onnx.load(str(path)), path)
    assert (tmp_path / "model.onnx.data").stat().st_size == once
