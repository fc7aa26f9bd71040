"""LoRA fine-tuning end to end on a tiny checkpoint: data, training, merge, export."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.agent.evalset import EvalSet
from edge_agent.llm.bundle import open_bundle
from edge_agent_export.__main__ import main as export_main
from edge_agent_export.finetune import (
    TrainSettings,
    examples_from,
    intent_text,
    tokenize,
    train,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dataset")
    args = ["--out", str(out), "--homes", "12", "--train", "40", "--validation", "8",
            "--test", "8", "--seed", "3"]  # fmt: skip
    assert export_main(["dataset", *args]) == 0  # through the console script's dispatch
    return out


def test_intents_are_written_as_the_grammar_writes_them() -> None:
    text = intent_text({"action": "brightness", "value": 30.0, "targets": ["Desk Lamp"]})
    assert text == '{"targets":["Desk Lamp"],"action":"brightness","value":30}'


def test_examples_show_what_the_planner_shows(data: Path) -> None:
    examples, skipped = examples_from(EvalSet.load(data / "train.json"))
    assert len(examples) + skipped == 40 and len(examples) >= 30
    first = examples[0]
    assert first.request.startswith("Devices:\n- ") and first.request.endswith("JSON:\n")
    assert "Request: " in first.request and first.target.startswith('{"targets":[')
    assert "Example" not in first.prefix and "Desk Lamp" not in first.prefix  # no few-shot


def _device_lines(request: str, devices: bool = True) -> list[str]:
    return [line for line in request.splitlines() if line.startswith("- ") == devices]


def test_shuffled_examples_list_the_same_devices_in_another_order(data: Path) -> None:
    evalset = EvalSet.load(data / "train.json")
    plain, skipped = examples_from(evalset)
    shuffled, skipped_too = examples_from(evalset, shuffle_candidates=1.0, seed=5)
    assert skipped == skipped_too and len(plain) == len(shuffled)
    reordered = 0
    for before, after in zip(plain, shuffled, strict=True):
        assert after.target == before.target and after.prefix == before.prefix
        assert sorted(_device_lines(after.request)) == sorted(_device_lines(before.request))
        assert _device_lines(after.request, False) == _device_lines(before.request, False)
        reordered += _device_lines(after.request) != _device_lines(before.request)
    assert reordered >= len(plain) // 2
    # The same seed shuffles the same way; no share keeps retrieval's order.
    assert examples_from(evalset, shuffle_candidates=1.0, seed=5)[0] == shuffled
    assert examples_from(evalset, shuffle_candidates=0.0, seed=5)[0] == plain
    with pytest.raises(SystemExit) as refused:
        export_main(["finetune", "--data", str(data), "--out", str(data / "never"),
                     "--shuffle-candidates", "50"])  # fmt: skip
    assert refused.value.code == 2 and not (data / "never").exists()


def test_only_the_answer_is_learned(data: Path, tiny_checkpoint: Callable[[str], Path]) -> None:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tiny_checkpoint("llama") / "tokenizer.json"))
    example = examples_from(EvalSet.load(data / "train.json"))[0][0]
    ids, labels = tokenize(tokenizer, [1], example)
    answer = [t for t in labels if t != -100]
    assert len(ids) == len(labels) and ids[0] == 1
    assert tokenizer.decode(answer) == example.target
    assert labels[: len(labels) - len(answer)] == [-100] * (len(labels) - len(answer))


def test_train_merge_and_export(
    data: Path,
    tmp_path: Path,
    tiny_checkpoint: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from edge_agent_export.build import build
    from edge_agent_export.quantize import QuantSettings

    base = str(tiny_checkpoint("llama_long_context"))
    adapter = tmp_path / "adapter"
    settings = TrainSettings(minutes=0.05, rank=4, alpha=8, batch_size=4, eval_every=2)
    summary = train(base, data / "train.json", data / "validation.json", adapter, settings)
    assert summary["steps"] >= 1 and 0.0 <= summary["best"]["val_exact"] <= 1.0
    assert (adapter / "adapter_config.json").is_file()
    assert (adapter / "adapter_model.safetensors").stat().st_size < 2_000_000

    # A second run continues from the adapter (--resume), as the committed one was trained.
    resumed = tmp_path / "resumed"
    again = TrainSettings(minutes=0.02, batch_size=4, eval_every=1, resume=adapter, seed=1,
                          keep_steps=True)  # fmt: skip
    summary = train(base, data / "train.json", data / "validation.json", resumed, again)
    assert summary["resumed_from"] == str(adapter) and (resumed / "adapter_config.json").is_file()
    # --keep-steps: every evaluated step's adapter, each a whole adapter folder (--adapter)
    kept = {int(p.name.removeprefix("step-")): p for p in (resumed / "steps").iterdir()}
    assert sorted(kept) == sorted(summary["validation_exact_by_step"])
    assert all((p / "adapter_config.json").is_file() for p in kept.values())
    best = kept[summary["best"]["step"]] / "adapter_model.safetensors"
    assert best.read_bytes() == (resumed / "adapter_model.safetensors").read_bytes()

    from edge_agent_export.errors import ExportError

    (adapter / "planner.json").write_text('{"none_threshold": "high"}')
    with pytest.raises(ExportError, match=r"planner\.json: none_threshold must be a number"):
        build(base, tmp_path / "bad", QuantSettings(precision="int4", block_size=16),
              quiet=True, adapter=adapter)  # fmt: skip
    (adapter / "planner.json").write_text('{"none_threshold": 0.2}')  # calibrated with it
    out = tmp_path / "bundle"
    build(base, out, QuantSettings(precision="int4", block_size=16), quiet=True, adapter=adapter)
    manifest = open_bundle(out).manifest
    assert manifest.planner_prompt == "instructions" and manifest.planner_none_threshold == 0.2
    assert manifest.adapter is not None and manifest.adapter.startswith("adapter sha256:")
    # `make bundle` rebuilds a bundle that is not what the adapter makes now.
    from edge_agent_export.__main__ import main

    assert main(["verify", str(out), "--adapter", str(adapter)]) == 0
    assert main(["verify", str(out), "--adapter", str(resumed)]) == 1  # other weights
    (adapter / "planner.json").write_text('{"none_threshold": 0.3}')  # recalibrated
    assert main(["verify", str(out), "--adapter", str(adapter)]) == 1
    assert "none threshold 0.2" in capsys.readouterr().err
    (adapter / "planner.json").write_text('{"none_threshold": 0.2}')
    _keep_current_rebuilds_only_what_changed(out, base, adapter, resumed, capsys)
    plain = tmp_path / "plain"
    build(base, plain, QuantSettings(precision="int4", block_size=16), quiet=True, adapter=None)
    assert open_bundle(plain).manifest.planner_prompt == "few-shot"
    assert open_bundle(plain).manifest.planner_none_threshold is None
    merged = (out / "model.onnx.data").read_bytes()
    assert merged != (plain / "model.onnx.data").read_bytes()  # the adapter changed weights


def _keep_current_rebuilds_only_what_changed(
    out: Path, base: str, adapter: Path, resumed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make bundle`: build --keep-current leaves a bundle that is what these options make,
    and rebuilds one that is not (other quantization, other weights, a damaged file)."""
    from edge_agent_export.__main__ import main
    from edge_agent_export.adapter_meta import adapter_stamp

    def build_into_out(block: int, weights: Path) -> int:
        return main(["build", "--source", base, "--quant", "int4", "--block-size", str(block),
                     "--adapter", str(weights), "--out", str(out), "--force", "--keep-current",
                     "--quiet"])  # fmt: skip

    stamp = (out / "manifest.json").stat().st_mtime_ns
    assert build_into_out(16, adapter) == 0 and "up to date" in capsys.readouterr().out
    assert (out / "manifest.json").stat().st_mtime_ns == stamp
    assert build_into_out(32, adapter) == 0
    assert "quantization block_size 16 -> 32" in capsys.readouterr().err
    assert open_bundle(out).manifest.quantization.block_size == 32
    assert build_into_out(32, resumed) == 0
    assert "built with adapter" in capsys.readouterr().err
    assert open_bundle(out).manifest.adapter == adapter_stamp(resumed)
    with (out / "tokenizer.json").open("a") as damaged:
        damaged.write(" ")
    assert build_into_out(32, resumed) == 0
    assert "tokenizer.json" in capsys.readouterr().err
    assert main(["verify", str(out), "--adapter", str(resumed)]) == 0


def test_a_missing_adapter_is_a_clear_error(
    tmp_path: Path, tiny_checkpoint: Callable[[str], Path]
) -> None:
    from edge_agent_export.build import build
    from edge_agent_export.errors import ExportError
    from edge_agent_export.quantize import QuantSettings

    with pytest.raises(ExportError, match="not a LoRA adapter folder"):
        build(str(tiny_checkpoint("llama")), tmp_path / "b", QuantSettings(precision="fp32"),
              quiet=True, adapter=tmp_path)  # fmt: skip


def test_answer_only_loss_equals_the_models_own_loss(
    data: Path, tiny_checkpoint: Callable[[str], Path]
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from edge_agent_export.finetune import _loss

    model = AutoModelForCausalLM.from_pretrained(str(tiny_checkpoint("llama_long_context")))
    model.requires_grad_(False)
    ids = list(range(5, 60))
    labels = [-100] * 50 + ids[50:]
    ours = _loss(model, [(ids, labels)], 0, "cpu")
    theirs = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
    assert float(ours) == pytest.approx(float(theirs), rel=1e-4)
    # left padding changes nothing for the shorter row
    short = (ids[10:], labels[10:])
    padded = _loss(model, [(ids, labels), short], 0, "cpu")
    alone = (_loss(model, [short], 0, "cpu") + ours) / 2
    assert float(padded) == pytest.approx(float(alone), rel=1e-3)


def test_a_shared_prompt_head_runs_once_with_the_same_loss_and_gradients(
    tiny_checkpoint: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from edge_agent_export import finetune
    from edge_agent_export.finetune import SHARED_MIN, _loss, _shared_length

    # The claim is exact arithmetic. On a CPU with AVX512-BF16 training autocasts to bf16,
    # which rounds the shared and the whole-row paths differently (~1 % of a gradient).
    monkeypatch.setattr(finetune, "_fast_dtype", lambda device: torch.float32)

    model = AutoModelForCausalLM.from_pretrained(str(tiny_checkpoint("llama_long_context")))
    head = list(range(3, 3 + SHARED_MIN + 8))
    rows = [([*head, 70, 71, 72, 80, 81], [-100] * (len(head) + 3) + [80, 81]),
            ([*head, 73, 82, 83, 84], [-100] * (len(head) + 1) + [82, 83, 84]),
            ([*head, 74, 75, 76, 77, 78, 85], [-100] * (len(head) + 5) + [85])]  # fmt: skip
    assert _shared_length(rows) == len(head)

    def loss_and_grad(batch: list[tuple[list[int], list[int]]]) -> tuple[float, torch.Tensor]:
        model.zero_grad()
        loss = _loss(model, batch, 0, "cpu")
        loss.backward()
        grad = model.model.layers[0].self_attn.q_proj.weight.grad
        assert grad is not None
        return loss.item(), grad.clone()

    together, grad_together = loss_and_grad(rows)
    # one row at a time runs the whole row: the reference (the loss is a mean over tokens)
    parts = [loss_and_grad([row]) for row in rows]
    weights = [sum(1 for t in labels if t != -100) for _, labels in rows]
    alone = sum(w * loss for w, (loss, _) in zip(weights, parts, strict=True)) / sum(weights)
    assert together == pytest.approx(alone, rel=1e-3)
    grad_alone = sum(w * g for w, (_, g) in zip(weights, parts, strict=True)) / sum(weights)
    assert torch.allclose(grad_together, grad_alone, rtol=1e-3, atol=1e-6)
    # identical prompts: the last prompt token stays with each row, it predicts the answer
    same = [([*head, 70, 80], [-100] * (len(head) + 1) + [80]),
            ([*head, 70, 81], [-100] * (len(head) + 1) + [81])]  # fmt: skip
    assert _shared_length(same) == len(head)
    both = loss_and_grad(same)[0]
    assert both == pytest.approx((loss_and_grad(same[:1])[0] + loss_and_grad(same[1:])[0]) / 2)


def test_the_learning_rate_decays_over_the_time_budget() -> None:
    from edge_agent_export.finetune import learning_rate_at

    rates = [learning_rate_at(2e-4, done / 10) for done in range(11)]
    assert rates[0] == pytest.approx(2e-4) and rates[-1] == pytest.approx(2e-5)
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert learning_rate_at(2e-4, 1.7) == pytest.approx(2e-5)  # a late last step
