"""``edge-agent-export bench``: every source x precision built in its own process.

Each build runs as a child process so that its peak memory (``ru_maxrss`` from
``wait4``) and wall time are its own; the bundle's quality report supplies size,
agreement with fp32, load time and decode speed, all measured in the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel

from edge_agent_export.quality import QualityReport
from edge_agent_export.report_table import megabytes, table


class BenchRow(BaseModel):
    source: str
    precision: str
    ok: bool
    export_wall_s: float
    peak_rss_bytes: int
    size_bytes: int = 0
    top1_agreement_vs_fp32: float = 0.0
    perplexity: float = 0.0
    load_time_s: float = 0.0
    decode_tokens_per_s: float = 0.0


def bench(sources: list[str], precisions: list[str], out_dir: Path) -> list[BenchRow]:
    rows: list[BenchRow] = []
    for source in sources:
        for precision in precisions:
            rows.append(_one(source, precision, out_dir / f"{Path(source).name}-{precision}"))
            print(_format(rows[-1:]), file=sys.stderr, flush=True)
    return rows


def _one(source: str, precision: str, out: Path) -> BenchRow:
    command = [sys.executable, "-m", "edge_agent_export", "build", "--source", source,
               "--quant", precision, "--out", str(out), "--force", "--quiet"]  # fmt: skip
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    if child.returncode != 0:
        return BenchRow(
            source=source, precision=precision, ok=False, export_wall_s=wall, peak_rss_bytes=peak
        )
    report = QualityReport.model_validate_json((out / "quality_report.json").read_text())
    row = next(r for r in report.rows if r.precision == precision)
    return BenchRow(
        source=source,
        precision=precision,
        ok=True,
        export_wall_s=wall,
        peak_rss_bytes=peak,
        size_bytes=row.size_bytes,
        top1_agreement_vs_fp32=row.top1_agreement_vs_fp32,
        perplexity=row.perplexity,
        load_time_s=row.load_time_s,
        decode_tokens_per_s=row.decode_tokens_per_s,
    )


def _format(rows: list[BenchRow]) -> str:
    return table(
        [
            "source",
            "precision",
            "size",
            "export s",
            "peak RSS",
            "top-1 vs fp32",
            "perplexity",
            "load s",
            "decode tok/s (2 threads)",
        ],
        [
            (
                r.source,
                r.precision,
                megabytes(r.size_bytes),
                f"{r.export_wall_s:.0f}",
                megabytes(r.peak_rss_bytes),
                f"{r.top1_agreement_vs_fp32:.1%}",
                f"{r.perplexity:.2f}",
                f"{r.load_time_s:.2f}",
                f"{r.decode_tokens_per_s:.1f}",
            )
            if r.ok
            else (
                r.source,
                r.precision,
                "FAILED",
                f"{r.export_wall_s:.0f}",
                megabytes(r.peak_rss_bytes),
                "",
                "",
                "",
                "",
            )
            for r in rows
        ],
    )


def print_rows(rows: list[BenchRow], as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.model_dump() for r in rows], indent=2))
    else:
        print(_format(rows))
