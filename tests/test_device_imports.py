"""The device has onnxruntime only: loading and running a bundle must not import torch."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

FORBIDDEN = ("torch", "transformers", "optimum", "peft")


def test_running_a_bundle_imports_no_workstation_library(
    tiny_bundle: Callable[[str, str], Path],
) -> None:
    bundle = tiny_bundle("llama", "int4")
    code = f"""
import sys
from edge_agent.__main__ import main
code = main(["generate", "--bundle", {str(bundle)!r}, "--max-new-tokens", "5", "Turn on"])
assert code == 0, code
from edge_agent.llm.bundle import open_bundle
from edge_agent.llm.constraints import GrammarConstraint, json_schema_grammar, load_ll_tokenizer
from edge_agent.llm.generate import Generator, PrefixCache
from edge_agent.llm.onnx_lm import OnnxCausalLM
from edge_agent.llm.scoring import score_continuations
bundle = open_bundle({str(bundle)!r})
lm = OnnxCausalLM(bundle)
from tokenizers import Tokenizer
tokenizer = Tokenizer.from_file(str(bundle.tokenizer_path))
ll = load_ll_tokenizer(tokenizer, bundle.manifest.architecture.vocab_size, [2])
constraint = GrammarConstraint(ll, json_schema_grammar({{"enum": ["on", "off"]}}))
prefix = PrefixCache(lm)
prefix.set([5, 6, 7])
Generator(lm, prefix_cache=prefix).generate([5, 6, 7, 8], max_new_tokens=8, constraint=constraint)
score_continuations(lm, [5, 6], [[7], [8, 9]], prefix_cache=prefix)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
print("LOADED", loaded)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout, result.stdout
