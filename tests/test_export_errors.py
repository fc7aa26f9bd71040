"""Bad input to the export: one clear message, exit status 2, and no half-built bundle."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.paths import source_cache_dir
from edge_agent_export import sources
from edge_agent_export.__main__ import main


def _build(source: str, out: Path, *extra: str) -> int:
    return main(
        ["build", "--source", source, "--quant", "int4", "--out", str(out), "--quiet", *extra]
    )


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_unknown_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _build("no-such-model", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "unknown source 'no-such-model'" in err and "gemma3-270m" in err
    assert _leftovers(tmp_path) == []


def test_not_a_gguf_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "weights.txt"
    weights.write_text("hello")
    assert _build(str(weights), tmp_path / "out") == 2
    assert "not a GGUF file" in capsys.readouterr().err


def test_truncated_gguf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x07" * 40)
    assert _build(str(broken), tmp_path / "out") == 2
    assert "broken.gguf" in capsys.readouterr().err
    assert _leftovers(tmp_path) == ["broken.gguf"]


def test_folder_without_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    assert _build(str(folder), tmp_path / "out") == 2
    assert "no config.json" in capsys.readouterr().err
    (folder / "config.json").write_text('{"model_type": "llama"}')
    assert _build(str(folder), tmp_path / "out") == 2
    assert "no weight files" in capsys.readouterr().err


def test_unsupported_architecture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=64)).save_pretrained(
        folder
    )
    assert _build(str(folder), tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "architecture 'gpt2' is not supported" in err and "llama" in err
    assert not (tmp_path / "out").exists()


def test_offline_without_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGE_AGENT_CACHE", str(tmp_path / "cache"))
    assert _build("gemma3-270m", tmp_path / "out", "--offline") == 2
    assert "not in the cache" in capsys.readouterr().err


def test_corrupt_cached_source_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGE_AGENT_CACHE", str(tmp_path / "cache"))
    builtin = sources.BUILTINS["smollm2-135m-instruct"]
    cached = source_cache_dir() / builtin.name / builtin.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"GGUF but damaged")
    assert _build(builtin.name, tmp_path / "out", "--offline") == 2
    assert "not in the cache" in capsys.readouterr().err
    assert not cached.exists()


def test_failure_mid_build_keeps_the_previous_bundle(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tiny_checkpoint: Callable[[str], Path],
) -> None:
    out = tmp_path / "bundle"
    assert _build(str(tiny_checkpoint("llama")), out) == 0
    before = (out / "manifest.json").read_bytes()

    def disk_full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("edge_agent_export.build.write_manifest", disk_full)
    assert _build(str(tiny_checkpoint("llama")), out, "--force") == 2
    assert "disk full" in capsys.readouterr().err
    assert (out / "manifest.json").read_bytes() == before
    assert _leftovers(tmp_path) == ["bundle"]
    assert main(["verify", str(out)]) == 0


def test_existing_output_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").mkdir()
    assert _build("default", tmp_path / "out") == 2
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_gptq_needs_block_wise_weights(
    precision: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["build", "--source", "default", "--quant", precision, "--gptq"]
    assert main([*command, "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "--gptq rounds block-wise weights" in capsys.readouterr().err
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--quant", "int4", "--int8-share", "0.2"], "--int8-share needs --quant int4 --gptq"),
     (["--quant", "int8", "--weight-only", "--gptq", "--int8-share", "0.2"],
      "--int8-share needs --quant int4 --gptq"),
     (["--quant", "int4", "--gptq", "--int8-share", "1.5"], "is a fraction")],
)  # fmt: skip
def test_an_eight_bit_share_needs_int4_gptq_and_a_fraction(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["build", "--source", "default", *flags, "--out", str(tmp_path / "out"), "--quiet"]
    assert main(command) == 2
    assert message in capsys.readouterr().err
    assert _leftovers(tmp_path) == []


def test_keep_current_with_a_missing_adapter_is_a_clear_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tiny_bundle: Callable[..., Path],
    tiny_checkpoint: Callable[[str], Path],
) -> None:
    out = tiny_bundle("llama")  # built without an adapter, from this checkpoint, fp32
    command = ["build", "--source", str(tiny_checkpoint("llama")), "--quant", "fp32", "--out",
               str(out), "--force", "--keep-current", "--quiet"]  # fmt: skip
    assert main(command) == 0 and "up to date" in capsys.readouterr().out
    assert main([*command, "--adapter", str(tmp_path / "no-such-adapter")]) == 2
    assert "not a LoRA adapter folder" in capsys.readouterr().err
    assert main(["verify", str(out)]) == 0
