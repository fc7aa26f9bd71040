"""``edge-agent bench`` runs end to end on a tiny bundle (figures are not asserted)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.__main__ import main


def test_bench_prints_every_figure(
    tiny_bundle: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--bundle", str(tiny_bundle("llama", "int4")), "--no-peer",
                 "--json"]) == 0  # fmt: skip
    (row,) = json.loads(capsys.readouterr().out)
    assert row["engine"] == "onnxruntime"
    assert set(row["ttft_ms"]) == {"50"}  # 300 and 1000 do not fit a 256-token context
    assert row["decode_tokens_per_s"] > 0 and row["peak_rss_mb"] > 0
    assert 0 <= row["prefix_consistency"] <= 1
    assert row["constrained"]["tokens"] >= row["constrained"]["forced_tokens"] > 0
