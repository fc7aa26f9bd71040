"""LoRA fine-tuning of a small model on the planner's exact task, on a CPU in bounded time.

Each training example is what the device's planner shows the model for one request
(``Planner.prepare``: the instructions, the retrieved devices and groups, the request)
followed by the intent it should write. The loss covers the intent's tokens only. The
adapter with the best validation score is kept; ``build --adapter`` merges it into the
base weights before export, so the device only ever sees a normal bundle.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.agent import prompt
from edge_agent.agent.evalset import Case, EvalSet
from edge_agent.agent.evaluate import EVAL_POLICY
from edge_agent.agent.intent import Intent
from edge_agent.agent.planner import Planner
from edge_agent.agent.policy import Policy
from edge_agent.agent.prompt import PromptStyle
from edge_agent.devices.registry import Registry

PROMPT_STYLE: PromptStyle = "instructions"
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Example:
    prefix: str
    request: str
    target: str


class _NoModel:
    def complete_json(self, prefix: str, request: str, grammar: str) -> str:
        raise AssertionError("training data is prepared without a model")


def intent_text(intent: dict[str, Any]) -> str:
    """The intent exactly as the grammar makes the model write it."""
    value = intent.get("value")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    ordered = {"targets": intent.get("targets", []), "action": intent["action"], "value": value}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


def examples_from(
    evalset: EvalSet,
    style: PromptStyle = PROMPT_STYLE,
    *,
    shuffle_candidates: float = 0.0,
    seed: int = 0,
) -> tuple[list[Example], int]:
    """Training examples of a set, and how many cases were left out because the planner
    would not offer their intent (retrieval missed a target).

    With ``shuffle_candidates`` that share of the examples lists its devices in a random
    order instead of retrieval's, so that the first place is less of a clue: a model
    trained only on retrieval's order mostly takes the first device, and fails when
    retrieval ranked the wanted one lower. Half, tried on the default, cost validation
    accuracy (94.0 -> 91.5 %): retrieval's order is information too; see the README."""
    rng = random.Random(seed)
    planners: dict[str, Planner] = {}
    examples, skipped = [], 0
    for case in evalset.cases:
        planner = planners.get(case.home)
        if planner is None:
            registry = Registry([])
            registry.add(device.entity() for device in evalset.homes[case.home])
            planner = Planner(_NoModel(), registry, Policy(EVAL_POLICY), prompt_style=style)
            planners[case.home] = planner
        shuffle = rng.random() < shuffle_candidates
        example = _example(planner, case, rng if shuffle else None)
        if example is None:
            skipped += 1
        else:
            examples.append(example)
    return examples, skipped


def _example(planner: Planner, case: Case, shuffle: random.Random | None) -> Example | None:
    if case.intent is None:
        return None
    prepared = planner.prepare(case.text, case.area)
    target = intent_text(case.intent)
    if not prepared.grammar.allows(Intent.model_validate_json(target)):
        return None
    request = prepared.request
    if shuffle is not None:
        devices = shuffle.sample(prepared.candidates, len(prepared.candidates))
        groups = [g.label for g in prepared.groups]
        request = prompt.request(devices, groups, case.area, prepared.text)
    return Example(planner.prefix, request, target)


@dataclass
class TrainSettings:
    minutes: float = 30.0
    rank: int = 8
    alpha: int = 16
    learning_rate: float = 3e-4
    batch_size: int = 8
    eval_every: int = 25
    seed: int = 0
    resume: Path | None = None
    decay: bool = True
    """Cosine learning-rate decay over the time budget, down to a tenth."""
    shuffle_candidates: float = 0.0
    """Share of training examples whose devices are listed in a random order."""
    keep_steps: bool = False
    """Also keep the adapter of every evaluated step, in ``<out>/steps/step-<n>``: teacher-
    forced validation swings by a couple of points between evaluations, so a step may be
    better chosen through the real planner at the device's precision."""


def tokenize(tokenizer: Any, bos: list[int], example: Example) -> tuple[list[int], list[int]]:
    """Input ids and labels (-100 outside the intent), tokenized piece by piece as the
    device's JsonModel does (prefix, request) and as the grammar lets the answer be."""
    prompt = bos + tokenizer.encode(example.prefix).ids + tokenizer.encode(example.request).ids
    answer = tokenizer.encode(example.target).ids
    return prompt + answer, [-100] * len(prompt) + answer


def train(
    base: str,
    train_set: Path,
    validation_set: Path,
    out_dir: Path,
    settings: TrainSettings,
    *,
    offline: bool = False,
) -> dict[str, Any]:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning threads starve each other
    import torch

    from edge_agent_export import sources
    from edge_agent_export.loading import load

    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    loaded = load(sources.resolve(base, offline=offline))
    tokenizer, model = loaded.tokenizer, loaded.model
    tokens = loaded.tokens
    bos = [tokens.bos_id] if tokens.add_bos and tokens.bos_id is not None else []
    train_examples, skipped = examples_from(EvalSet.load(train_set),
                                            shuffle_candidates=settings.shuffle_candidates,
                                            seed=settings.seed)  # fmt: skip
    val_examples, val_skipped = examples_from(EvalSet.load(validation_set))
    _log(f"{len(train_examples)} training examples ({skipped} left out: target not retrieved), "
         f"{len(val_examples)} validation ({val_skipped} left out)")  # fmt: skip
    train_rows = [tokenize(tokenizer, bos, e) for e in train_examples]
    val_rows = [tokenize(tokenizer, bos, e) for e in val_examples]

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, optimizer = _lora(model, settings, device)
    pad = loaded.tokens.pad_id if loaded.tokens.pad_id is not None else 0
    deadline = time.monotonic() + settings.minutes * 60
    best = {"val_exact": -1.0, "step": 0}
    history: dict[int, float] = {}
    step, started, order = 0, time.monotonic(), list(range(len(train_rows)))
    while time.monotonic() < deadline:
        random.shuffle(order)
        for start in range(0, len(order) - settings.batch_size + 1, settings.batch_size):
            if time.monotonic() >= deadline:
                break
            batch = [train_rows[i] for i in order[start : start + settings.batch_size]]
            done = (time.monotonic() - started) / (settings.minutes * 60)
            rate = learning_rate_at(settings.learning_rate, done) if settings.decay else None
            loss = _step(model, optimizer, batch, pad, device, rate=rate)
            step += 1
            if step % settings.eval_every == 0:
                exact = _teacher_forced_exact(model, val_rows, pad, device)
                history[step] = round(exact, 4)
                elapsed = (time.monotonic() - started) / 60
                _log(f"step {step} ({elapsed:.1f} min): loss {loss.item():.3f}, "
                     f"validation exact {exact:.1%}")  # fmt: skip
                best = _keep(model, out_dir, step, exact, best, every=settings.keep_steps)
    if best["step"] == 0 or step % settings.eval_every:
        exact = _teacher_forced_exact(model, val_rows, pad, device)
        history[step] = round(exact, 4)
        best = _keep(model, out_dir, step, exact, best, every=settings.keep_steps)
    summary = {"base": base, "steps": step, "best": best, "train_examples": len(train_rows),
               "minutes": (time.monotonic() - started) / 60, "rank": settings.rank,
               "resumed_from": str(settings.resume) if settings.resume else None,
               "seed": settings.seed, "batch_size": settings.batch_size,
               "learning_rate": settings.learning_rate,
               "shuffle_candidates": settings.shuffle_candidates,
               "schedule": "cosine to 10 %" if settings.decay else "constant",
               "validation_exact_by_step": history}  # fmt: skip
    (out_dir / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _step(model: Any, optimizer: Any, batch: list[tuple[list[int], list[int]]], pad: int,
          device: str, *, rate: float | None) -> Any:  # fmt: skip
    """One optimizer step on ``batch`` (at learning rate ``rate`` when given); its loss."""
    import torch

    model.train()
    loss = _loss(model, batch, pad, device)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    if rate is not None:
        for group in optimizer.param_groups:
            group["lr"] = rate
    optimizer.step()
    optimizer.zero_grad()
    return loss


def learning_rate_at(peak: float, done: float) -> float:
    """Cosine decay from ``peak`` to a tenth of it as ``done`` (share of the time budget)
    goes from 0 to 1: the time budget is what bounds a run here, not a step count."""
    done = min(max(done, 0.0), 1.0)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done)))


def _lora(model: Any, settings: TrainSettings, device: str) -> tuple[Any, Any]:
    import torch
    from peft import LoraConfig, get_peft_model

    if device == "cpu":
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    if settings.resume is not None:
        from peft import PeftModel

        # Continuing a run: the adapter's own config (rank, layers) wins over the settings.
        model = PeftModel.from_pretrained(model, str(settings.resume), is_trainable=True)
        model = model.to(torch.float32).to(device)
        trainable = [p for p in model.parameters() if p.requires_grad]
        return model, torch.optim.AdamW(trainable, lr=settings.learning_rate)
    layers = int(model.config.num_hidden_layers)
    # Adapting the upper layers only: backward stops at the first adapted layer, which
    # halves its cost on a CPU, and the task is one of reading, not of new knowledge.
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=0.05,
                        target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM",
                        layers_to_transform=list(range(layers // 2, layers)))  # fmt: skip
    model = get_peft_model(model, config).to(device)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate
    )
    return model, optimizer


def _fast_dtype(device: str) -> Any:
    """bf16 where the hardware computes it natively, else fp32: on a CPU without
    AVX512-BF16 or AMX, bf16 autocast was far slower than fp32 (measured on an AMD EPYC)."""
    import torch

    if device == "cuda":
        return torch.bfloat16
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return torch.bfloat16 if ("avx512_bf16" in flags or "amx_bf16" in flags) else torch.float32


def _batch_tensors(batch: list[tuple[list[int], list[int]]], pad: int, device: str) -> Any:
    """Left-padded ids, labels, mask and positions: every answer ends at the last column,
    so logits are only computed for the last few positions."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (tokens, target) in enumerate(batch):
        ids[row, width - len(tokens) :] = torch.tensor(tokens)
        labels[row, width - len(target) :] = torch.tensor(target)
        mask[row, width - len(tokens) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), labels.to(device), mask.to(device), positions.to(device)


SHARED_MIN = 16
"""Leading tokens a batch must share (the planner's fixed instructions) before they are
run once for the whole batch instead of once per row."""


def _shared_length(batch: list[tuple[list[int], list[int]]]) -> int:
    """How many leading prompt tokens every row of ``batch`` has in common, leaving each
    row at least its last prompt token (whose logits predict the first answer token)."""
    first = batch[0][0]
    limit = min(_first_answer(labels) for _, labels in batch) - 1
    shared = 0
    while shared < limit and all(ids[shared] == first[shared] for ids, _ in batch):
        shared += 1
    return shared


def _first_answer(labels: list[int]) -> int:
    return next((i for i, t in enumerate(labels) if t != -100), len(labels))


def _answer_logits(model: Any, batch: list[tuple[list[int], list[int]]], pad: int,
                   device: str) -> tuple[Any, Any]:  # fmt: skip
    """Logits that predict each answer token, and those tokens (-100 where not answer).

    A prompt head that all rows share (the planner's instructions, about 40 % of each
    row) runs once, and its keys and values are repeated for every row: the same sums as
    running each row whole (gradients flow back through the repeat), about a third less
    work per step, and the way the device runs it (instructions cached, then the request)."""
    import torch

    keep = max(sum(1 for t in target if t != -100) for _, target in batch) + 1
    dtype = _fast_dtype(device)
    shared = _shared_length(batch) if len(batch) > 1 else 0
    with torch.autocast(device_type=device, dtype=dtype, enabled=dtype != torch.float32):
        if shared < SHARED_MIN:
            ids, labels, mask, positions = _batch_tensors(batch, pad, device)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                           logits_to_keep=keep).logits  # fmt: skip
            return logits[:, :-1].float(), labels[:, -keep + 1 :]
        head = torch.tensor([batch[0][0][:shared]], dtype=torch.long, device=device)
        cache = model(input_ids=head, use_cache=True).past_key_values
        cache.batch_repeat_interleave(len(batch))
        rest = [(ids[shared:], labels[shared:]) for ids, labels in batch]
        ids, labels, mask, positions = _batch_tensors(rest, pad, device)
        mask = torch.cat([torch.ones((len(batch), shared), dtype=mask.dtype, device=device),
                          mask], dim=1)  # fmt: skip
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions + shared,
                       past_key_values=cache, logits_to_keep=keep).logits  # fmt: skip
    return logits[:, :-1].float(), labels[:, -keep + 1 :]


def _loss(model: Any, batch: list[tuple[list[int], list[int]]], pad: int, device: str) -> Any:
    import torch

    logits, wanted = _answer_logits(model, batch, pad, device)
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), wanted.reshape(-1), ignore_index=-100
    )


def _teacher_forced_exact(
    model: Any, rows: list[tuple[list[int], list[int]]], pad: int, device: str
) -> float:
    """Share of validation intents whose every token is the model's top choice."""
    import torch

    model.eval()
    right = 0
    with torch.no_grad():
        for start in range(0, len(rows), 16):
            logits, wanted = _answer_logits(model, rows[start : start + 16], pad, device)
            scored = wanted != -100
            right += int(((logits.argmax(-1) == wanted) | ~scored).all(dim=1).sum())
    return right / max(len(rows), 1)


def _keep(
    model: Any, out_dir: Path, step: int, exact: float, best: dict[str, float], *, every: bool
) -> dict[str, float]:
    """Saves the adapter to ``out_dir`` if it is the best so far, and with ``every`` to
    steps/ whatever its score; returns the best so far."""
    if every:
        _save_adapter(model, out_dir / "steps" / f"step-{step}")
    if exact > best["val_exact"]:
        _save_adapter(model, out_dir)
        return {"val_exact": exact, "step": step}
    return best


def _save_adapter(model: Any, out_dir: Path) -> None:
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    # Half precision: the adapter is committed to the repository, so it should stay small.
    from safetensors.torch import load_file, save_file

    weights = out_dir / "adapter_model.safetensors"
    tensors = {k: v.to(torch.float16) for k, v in load_file(str(weights)).items()}
    save_file(tensors, str(weights))


def merge_adapter(model: Any, adapter_dir: Path) -> Any:
    """``model`` with the LoRA adapter in ``adapter_dir`` merged into its weights."""
    import torch
    from peft import PeftModel

    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    return merged.to(torch.float32)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edge-agent-export finetune", description=__doc__)
    parser.add_argument("--base", default="smollm2-135m-instruct", help="a build source")
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder with train.json and validation.json (from 'dataset')",
    )
    parser.add_argument("--out", type=Path, required=True, help="adapter folder to write")
    parser.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--eval-every", type=int, default=25, help="steps between validations")
    parser.add_argument("--resume", type=Path, help="adapter folder to continue training from")
    parser.add_argument("--seed", type=int, default=0, help="order of the training examples")
    parser.add_argument(
        "--constant-lr",
        action="store_true",
        help="keep the learning rate (default: cosine decay over --minutes)",
    )
    parser.add_argument(
        "--shuffle-candidates",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of training examples (0-1) that list their devices in a random order",
    )
    parser.add_argument(
        "--keep-steps",
        action="store_true",
        help="also keep the adapter of every evaluated step, in OUT/steps/step-N",
    )
    parser.add_argument("--offline", action="store_true")
    args = parser.parse_args(argv)  # fmt: skip
    if not 0.0 <= args.shuffle_candidates <= 1.0:
        parser.error(f"--shuffle-candidates is a share from 0 to 1, not {args.shuffle_candidates}")
    settings = TrainSettings(minutes=args.minutes, rank=args.rank, alpha=2 * args.rank,
                             learning_rate=args.learning_rate, batch_size=args.batch_size,
                             eval_every=args.eval_every, seed=args.seed,
                             resume=args.resume, decay=not args.constant_lr,
                             shuffle_candidates=args.shuffle_candidates,
                             keep_steps=args.keep_steps)  # fmt: skip
    summary = train(args.base, args.data / "train.json", args.data / "validation.json",
                    args.out, settings, offline=args.offline)  # fmt: skip
    print(json.dumps(summary, indent=2))
    return 0 if math.isfinite(summary["best"]["val_exact"]) else 1
