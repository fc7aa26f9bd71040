"""The bundle contract: manifest validation and detection of damaged bundles."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.llm import bundle as bundle_module
from edge_agent.llm.bundle import BundleError, open_bundle, read_manifest
from edge_agent.llm.manifest import MANIFEST_NAME, Manifest


@pytest.fixture
def bundle_copy(tmp_path: Path, tiny_bundle: Callable[[str, str], Path]) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(tiny_bundle("llama", "int4"), target)
    return target


def _edit_manifest(bundle: Path, edit: Callable[[dict[str, object]], None]) -> None:
    path = bundle / MANIFEST_NAME
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw))


def test_intact_bundle_opens_and_lists_every_file(bundle_copy: Path) -> None:
    bundle = open_bundle(bundle_copy)
    on_disk = {p.name for p in bundle_copy.iterdir()} - {MANIFEST_NAME}
    assert set(bundle.manifest.files) == on_disk
    assert {"model.onnx", "tokenizer.json", "quality_report.json"} <= on_disk


def test_flipped_byte_is_detected_and_named(bundle_copy: Path) -> None:
    model = bundle_copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.onnx: sha256 does not match"):
        open_bundle(bundle_copy)
    open_bundle(bundle_copy, verify="size")  # sizes alone cannot see it


def test_truncated_file_is_detected_without_hashing(bundle_copy: Path) -> None:
    tokenizer = bundle_copy / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes()[:100])
    with pytest.raises(BundleError, match=r"tokenizer\.json: size 100 bytes"):
        open_bundle(bundle_copy, verify="size")


def test_missing_file_is_named(bundle_copy: Path) -> None:
    (bundle_copy / "quality_report.json").unlink()
    with pytest.raises(BundleError, match=r"quality_report\.json: missing"):
        open_bundle(bundle_copy)


def test_unknown_schema_version_is_refused(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, lambda raw: raw.update(schema_version=99))
    with pytest.raises(BundleError, match="schema version 99 is not supported"):
        read_manifest(bundle_copy)


def test_invalid_field_names_the_field(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, lambda raw: raw["architecture"].update(num_layers=0))  # type: ignore[attr-defined]
    with pytest.raises(BundleError, match="num_layers"):
        read_manifest(bundle_copy)


def test_file_names_cannot_leave_the_bundle(bundle_copy: Path) -> None:
    def escape(raw: dict[str, object]) -> None:
        raw["files"]["../outside"] = raw["files"]["model.onnx"]  # type: ignore[index]

    _edit_manifest(bundle_copy, escape)
    with pytest.raises(BundleError, match="leaves the bundle"):
        open_bundle(bundle_copy)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"manifest\.json: missing"):
        open_bundle(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        open_bundle(tmp_path)
    with pytest.raises(BundleError, match="does not exist"):
        open_bundle(tmp_path / "nowhere")


def test_manifest_records_what_the_runtime_needs(bundle_copy: Path) -> None:
    manifest: Manifest = read_manifest(bundle_copy)
    arch, io = manifest.architecture, manifest.io
    assert len(io.past_keys) == len(io.present_values) == arch.num_layers
    assert io.logits_positions == "logits_positions"
    assert manifest.source.kind == "checkpoint" and len(manifest.source.sha256) == 64
    assert manifest.tokens.stop_ids and manifest.tokens.eos_ids[0] in manifest.tokens.stop_ids


def test_verify_first_hashes_once_then_trusts_unchanged_files(
    bundle_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_AGENT_CACHE", str(tmp_path / "cache"))
    hashed: list[Path] = []
    real = bundle_module.sha256_file
    monkeypatch.setattr(bundle_module, "sha256_file", lambda p: hashed.append(p) or real(p))
    open_bundle(bundle_copy, verify="first")
    first = len(hashed)
    assert first > len(read_manifest(bundle_copy).files)  # every file, plus the manifest key
    open_bundle(bundle_copy, verify="first")
    assert len(hashed) - first == 1  # only the manifest, to find the stamp
    model = bundle_copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[100] ^= 1
    model.write_bytes(bytes(data))  # same size, new modification time
    with pytest.raises(BundleError, match="sha256 does not match"):
        open_bundle(bundle_copy, verify="first")
