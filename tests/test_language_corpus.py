"""The PTB reader on tiny files in PTB's exact format, batchify / get_batch, and the embedded
"KJV (PTB format)" corpus."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from rdarts.domains.language.corpus import (
    EMBEDDED,
    EOS,
    UNK,
    batchify,
    get_batch,
    read_corpus,
    split_files,
)
from rdarts.errors import DataError

# PTB's look: a leading space, lower case, no punctuation, numbers as N, rare words as <unk>.
TRAIN = [" the <unk> fell N points to N \n", " the market fell \n", " N <unk> rose \n"]
VALID = [" the market rose N points \n"]
TEST = [" the market fell \n", " the <unk> rose \n"]


def write_ptb(folder: Path, naming: str = "ptb.{}.txt", valid: list[str] = VALID) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, lines in (("train", TRAIN), ("valid", valid), ("test", [*TEST, "points\n"])):
        (folder / naming.format(split)).write_text("".join(lines))
    return folder


def test_counts_vocabulary_and_first_seen_order(tmp_path):
    corpus = read_corpus(write_ptb(tmp_path / "ptb", valid=VALID), "tiny")
    words = sum(len(line.split()) for line in TRAIN)
    assert corpus.train.numel() == words + len(TRAIN)  # tokens = words + lines (<eos>)
    assert corpus.words[:4] == ("the", UNK, "fell", "N")
    assert corpus.words.index(EOS) == len(set(TRAIN[0].split()))  # first seen after line 1
    assert corpus.vocabulary_size == len(set(" ".join(TRAIN).split())) + 1
    assert corpus.valid.numel() == 5 + 1 and corpus.test.numel() == 4 + 4 + 2
    assert [corpus.words[i] for i in corpus.valid.tolist()] == [
        "the", "market", "rose", "N", "points", EOS]


def test_both_file_namings_and_a_clear_error_for_neither(tmp_path):
    mikolov = read_corpus(write_ptb(tmp_path / "a", "ptb.{}.txt"))
    renamed = read_corpus(write_ptb(tmp_path / "b", "{}.txt"))
    assert torch.equal(mikolov.train, renamed.train) and mikolov.words == renamed.words
    assert split_files(tmp_path / "b")["valid"].name == "valid.txt"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "train.txt").write_text(TRAIN[0])
    with pytest.raises(DataError, match=r"ptb\.train\.txt"):
        read_corpus(tmp_path / "c")
    with pytest.raises(DataError, match="does not exist"):
        read_corpus(tmp_path / "missing")


def test_closed_vocabulary_is_checked(tmp_path):
    folder = write_ptb(tmp_path / "open", valid=[" the stock market rose \n"])
    with pytest.raises(DataError, match=r"not in the training vocabulary.*'stock'"):
        read_corpus(folder)
    corpus = read_corpus(folder, closed=False)  # unseen words become <unk>
    assert corpus.unseen == 1 and corpus.words[corpus.valid[1]] == UNK


def test_batchify_columns_are_contiguous_and_the_tail_is_dropped():
    data = torch.arange(23)
    rows = batchify(data, 4)
    assert rows.shape == (5, 4)  # 23 // 4 rows; 3 tokens dropped
    assert rows[:, 1].tolist() == [5, 6, 7, 8, 9]
    with pytest.raises(DataError, match="fewer than 2 rows"):
        batchify(torch.arange(5), 4)


def test_get_batch_shifts_targets_and_clips_at_the_end():
    rows = batchify(torch.arange(40), 4)  # (10, 4)
    data, target = get_batch(rows, 2, 3)
    assert data.shape == (3, 4) and torch.equal(target, rows[3:6].reshape(-1))
    data, target = get_batch(rows, 7, 5)  # L = min(5, 10 - 1 - 7) = 2
    assert data.shape == (2, 4) and target.numel() == 8
    with pytest.raises(DataError, match="no window"):
        get_batch(rows, 9, 3)


def test_embedded_corpus_is_ptb_format_with_a_closed_10k_vocabulary():
    files = split_files(EMBEDDED)
    assert all(path.suffix == ".gz" for path in files.values())
    with gzip.open(files["valid"], "rt", encoding="utf-8") as handle:
        lines = [handle.readline() for _ in range(50)]
    assert all(line.startswith(" ") and line.endswith(" \n") for line in lines)
    text = "".join(lines)
    assert text == text.lower() and not any(c in text for c in ".,;:?!\"()0123456789")
    assert all(word == "'s" for word in text.split() if "'" in word)  # split off, as PTB
    corpus = read_corpus(EMBEDDED)  # closed: every valid/test word occurs in train
    assert corpus.vocabulary_size == 10_000 and UNK in corpus.words
    assert (corpus.train.numel(), corpus.valid.numel(), corpus.test.numel()) == (
        736_333, 42_236, 43_985)
    assert (EMBEDDED.parent / "LICENSE-kjv.txt").read_text().count("public domain") == 1


def test_the_domain_reads_ptb_from_a_data_dir_and_kjv_without(tmp_path):
    from rdarts.domains.language.domain import load_corpus
    from rdarts.errors import ConfigError

    folder = write_ptb(tmp_path / "penn", "{}.txt")
    assert load_corpus("auto", str(folder)).name == "PTB"
    assert load_corpus("ptb", str(folder)).train.numel() == 13 + 3  # words + lines
    with pytest.raises(DataError, match="needs --data-dir"):
        load_corpus("ptb", None)
    with pytest.raises(ConfigError, match="kjv is embedded"):
        load_corpus("kjv", str(folder))
