"""The two console scripts on a real tiny bundle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.__main__ import main as device_main
from edge_agent_export.__main__ import main as export_main


def test_inspect_shows_manifest_and_report(
    tiny_bundle: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tiny_bundle("gemma", "int4")
    assert export_main(["inspect", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "gemma" in out and "int4 (block_size=16" in out
    assert "top-1 vs fp32" in out and "fp32" in out
    assert export_main(["inspect", "--json", str(bundle)]) == 0
    assert json.loads(capsys.readouterr().out)["quantization"]["precision"] == "int4"


def test_verify_reports_ok_and_failure(
    tiny_bundle: Callable[[str, str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export_main(["verify", str(tiny_bundle("gemma", "int4"))]) == 0
    assert "files match the manifest" in capsys.readouterr().out
    assert export_main(["verify", str(tmp_path)]) == 2
    assert "manifest.json: missing" in capsys.readouterr().err


def test_generate_streams_an_answer(
    tiny_bundle: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = device_main(["generate", "--bundle", str(tiny_bundle("llama", "int4")),
                        "--max-new-tokens", "6", "Turn on the light"])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    assert captured.out.strip()  # random weights: some text, never an empty answer
    assert "load" in captured.err and "answer" in captured.err


def test_generate_refuses_a_broken_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert device_main(["generate", "--bundle", str(tmp_path), "hello"]) == 2
    assert "manifest.json: missing" in capsys.readouterr().err


def test_devices_lists_the_demo_home(capsys: pytest.CaptureFixture[str]) -> None:
    assert device_main(["devices", "--json"]) == 0
    entities = json.loads(capsys.readouterr().out)
    ecosystems = {e["ecosystem"] for e in entities}
    assert ecosystems == {"homeassistant", "zigbee2mqtt", "tasmota", "homie"}
    assert "Kitchen Ceiling Light" in {e["name"] for e in entities}


def test_ask_prints_a_response_that_only_names_real_devices(
    tiny_bundle: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from edge_agent.demo.fixtures import demo_registry

    bundle = tiny_bundle("llama_long_context", "int4")
    device_main(["ask", "--bundle", str(bundle), "--json", "dim the sofa lamp to 30%"])
    response = json.loads(capsys.readouterr().out)
    assert response["status"] in {"ok", "error", "clarify", "confirm"}
    known = {e.id for e in demo_registry().entities()}
    assert {a["entity_id"] for a in response["actions"]} <= known


def test_eval_reports_exact_accuracy_per_kind(
    tiny_bundle: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tiny_bundle("llama_long_context", "int4")
    assert device_main(["eval", "--bundle", str(bundle), "--set", "handwritten",
                        "--limit", "4", "--json"]) == 0  # fmt: skip
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["set"] == "handwritten" and summary["cases"] == 4
    assert 0.0 <= summary["exact"] <= 1.0
    assert set(summary["by_kind"]) == {"command", "query", "none"}
    assert device_main(["eval", "--bundle", str(bundle), "--set", "no-such-set"]) == 2
    assert device_main(["eval", "--bundle", str(bundle), "--set", "handwritten",
                        "--limit", "4", "--json", "--none-sweep"]) == 0  # fmt: skip
    (swept,) = json.loads(capsys.readouterr().out)
    assert swept["none_threshold"] is None and swept["none_sweep"][0]["none_threshold"] is None
    assert swept["none_sweep"][0]["exact"] == pytest.approx(swept["exact"])


def test_the_none_sweep_scores_each_threshold_from_one_run() -> None:
    from edge_agent.agent.evalset import EvalSet, builtin_sets
    from edge_agent.agent.evaluate import Outcome, Report, none_sweep
    from edge_agent.messages import Response

    cases = EvalSet.load(builtin_sets()["handwritten"]).cases
    command = next(c for c in cases if c.kind == "command")
    nothing = next(c for c in cases if c.kind == "none")
    said = Response(status="ok", text="")
    report = Report("t", [
        Outcome(command, True, [], said, 0.1, doubt=0.1),  # right, though a little unsure
        Outcome(nothing, False, [], said, 0.1, doubt=0.3),  # acted, wrongly
        Outcome(nothing, True, [], said, 0.1, doubt=None),  # said none itself
    ])  # fmt: skip
    rows = {row["none_threshold"]: row for row in none_sweep(report, (0.05, 0.2, 0.5))}
    assert rows[None]["exact"] == pytest.approx(2 / 3) and rows[None]["none"] == 0.5
    assert rows[0.2]["exact"] == 1.0 and rows[0.2]["command"] == 1.0  # the wrong one held back
    assert rows[0.05]["command"] == 0.0 and rows[0.05]["none"] == 1.0  # too eager
    assert rows[0.5] == {**rows[None], "none_threshold": 0.5}
