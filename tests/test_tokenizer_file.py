"""tokenizer.json is written in the compact merge format only where it is exact."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tokenizers import Tokenizer, models

from edge_agent_export.bundle_writer import write_tokenizer

TEXTS = ["Turn on the kitchen light.", "  Dim it to 40%!\n", "Zürich 😀", "capitalism"]


def test_merges_become_strings_and_encoding_is_unchanged(
    tiny_checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    original = Tokenizer.from_file(str(tiny_checkpoint("llama") / "tokenizer.json"))
    path = tmp_path / "tokenizer.json"
    write_tokenizer(original, path)
    merges = json.loads(path.read_text(encoding="utf-8"))["model"]["merges"]
    assert merges and all(isinstance(m, str) and m.count(" ") == 1 for m in merges)
    rewritten = Tokenizer.from_file(str(path))
    for text in TEXTS:
        assert rewritten.encode(text).ids == original.encode(text).ids


def test_pieces_with_spaces_keep_the_pair_format(tmp_path: Path) -> None:
    vocab = {"a": 0, " ": 1, "a ": 2, "b": 3}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[("a", " ")]))
    path = tmp_path / "tokenizer.json"
    write_tokenizer(tokenizer, path)
    assert json.loads(path.read_text(encoding="utf-8"))["model"]["merges"] == [["a", " "]]
    assert Tokenizer.from_file(str(path)).encode("a b").ids == [2, 3]
