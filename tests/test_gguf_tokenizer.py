"""The SentencePiece-BPE rebuild against SentencePiece itself, on a GGUF written here.

A real SentencePiece BPE model is trained in-process, its pieces are written into a
GGUF file the way llama.cpp's converter writes Gemma's, and our ``tokenizers`` rebuild
must encode text exactly as SentencePiece does.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from edge_agent_export.gguf_tokenizer import (
    SPACE,
    USER_DEFINED,
    read_vocab,
    sentencepiece_bpe_tokenizer,
)

CORPUS = [
    "the capital of france is paris and the capital of italy is rome",
    "turn on the kitchen light and dim the living room lamp",
    "capitalism capitalize capital capitals capitol",
    "open the garage door close the blinds lock the front door",
    "set the thermostat to twenty one degrees in the bedroom",
] * 20


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory: pytest.TempPathFactory) -> object:
    spm = pytest.importorskip("sentencepiece")
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS),
        model_writer=buffer,
        model_type="bpe",
        vocab_size=400,
        byte_fallback=True,
        add_dummy_prefix=False,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,  # as Gemma
        user_defined_symbols=["\u2581\u2581", "<start_of_turn>"],
        control_symbols=["<end_of_turn>"],
        bos_id=2,
        eos_id=1,
        unk_id=3,
        pad_id=0,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=buffer.getvalue())


@pytest.fixture(scope="module")
def gguf_file(sp_model: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import gguf

    sp = sp_model
    path = tmp_path_factory.mktemp("gguf") / "tiny-spm.gguf"
    writer = gguf.GGUFWriter(str(path), "gemma3")
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):  # type: ignore[attr-defined]
        piece, kind = sp.id_to_piece(i), _piece_type(sp, i)  # type: ignore[attr-defined]
        # llama.cpp's converter stores user-defined pieces with real spaces.
        tokens.append(piece.replace(SPACE, " ") if kind == USER_DEFINED else piece)
        scores.append(sp.get_score(i))  # type: ignore[attr-defined]
        types.append(kind)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(False)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _piece_type(sp: object, i: int) -> int:
    for kind, check in ((2, "is_unknown"), (3, "is_control"), (6, "is_byte"), (5, "is_unused")):
        if getattr(sp, check)(i):
            return kind
    # sentencepiece has no is_user_defined; user-defined pieces score 0 and are not normal
    return USER_DEFINED if sp.id_to_piece(i) in ("\u2581\u2581", "<start_of_turn>") else 1  # type: ignore[attr-defined]


def test_vocab_round_trips_through_gguf(gguf_file: Path, sp_model: object) -> None:
    vocab = read_vocab(gguf_file)
    assert vocab.model == "llama"
    assert len(vocab.tokens) == sp_model.get_piece_size()  # type: ignore[attr-defined]
    assert (vocab.bos_id, vocab.eos_id, vocab.unk_id, vocab.add_bos) == (2, 1, 3, True)


def test_whole_words_stay_whole(gguf_file: Path, sp_model: object) -> None:
    tokenizer = sentencepiece_bpe_tokenizer(read_vocab(gguf_file))
    encoded = tokenizer.encode("the capital")
    assert encoded.ids == sp_model.encode("the capital")  # type: ignore[attr-defined]
    assert len(encoded.ids) <= 3, encoded.tokens  # never c ap it al


def test_matches_sentencepiece_on_random_text(gguf_file: Path, sp_model: object) -> None:
    tokenizer = sentencepiece_bpe_tokenizer(read_vocab(gguf_file))
    words = [*" ".join(CORPUS).split(), "Zürich", "42%", "ünïcode", "🙂", "x", "  ", "\n"]
    rng = random.Random(7)
    for _ in range(300):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 10)))
        text = text if rng.random() < 0.7 else text.replace(" ", "", rng.randint(0, 3))
        assert tokenizer.encode(text).ids == sp_model.encode(text), text  # type: ignore[attr-defined]
        assert tokenizer.decode(tokenizer.encode(text).ids) == text


def test_control_tokens_parse_from_template_text(gguf_file: Path, sp_model: object) -> None:
    tokenizer = sentencepiece_bpe_tokenizer(read_vocab(gguf_file))
    end = sp_model.piece_to_id("<end_of_turn>")  # type: ignore[attr-defined]
    assert tokenizer.encode("open the door<end_of_turn>").ids[-1] == end


def test_grammar_token_bytes_match_llguidances_own_reading(gguf_file: Path, tmp_path: Path) -> None:
    from llguidance import LLTokenizer

    from edge_agent.llm.constraints import check_token_bytes, load_ll_tokenizer, token_bytes

    tokenizer = sentencepiece_bpe_tokenizer(read_vocab(gguf_file))
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    width = tokenizer.get_vocab_size()
    reference = LLTokenizer(str(path), n_vocab=width)
    ours = token_bytes(tokenizer, width)
    assert ours == [reference.decode_bytes([i]) for i in range(width)]
    assert b" the" in ours and b"\x80" in ours  # spaces and raw byte pieces
    check_token_bytes(load_ll_tokenizer(tokenizer, width, [1]), tokenizer, range(width))
