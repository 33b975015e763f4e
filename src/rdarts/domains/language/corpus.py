"""Penn Treebank-format corpora: the reader, `batchify` and `get_batch` (spec section 6).

PTB (Mikolov's `ptb.{train,valid,test}.txt`, or `{train,valid,test}.txt` as awd-lstm-lm's
getdata.sh renames them) has one sentence per line, a leading space, lower case, no
punctuation, numbers as `N` and rare words as `<unk>`; each line is `line.split() + ['<eos>']`.
The dictionary is built on the training split in first-seen order; the vocabulary is closed
(every valid/test word occurs in train), which is checked, or with `closed=False` unseen
words become `<unk>` (which must then be in the dictionary).

Without `--data-dir` the domain reads the embedded "KJV (PTB format)" corpus
(`embedded/kjv/*.txt.gz`, made by scripts/make_kjv_corpus.py): real English, not PTB.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from rdarts.errors import DataError

SPLITS = ("train", "valid", "test")
NAMINGS = ("ptb.{}.txt", "{}.txt", "{}.txt.gz")  # Mikolov's, awd-lstm-lm's, ours (gzipped)
EOS, UNK = "<eos>", "<unk>"
EMBEDDED = Path(__file__).parent / "embedded" / "kjv"
EMBEDDED_NAME = "KJV (PTB format)"


@dataclass(frozen=True, eq=False)
class Corpus:
    """Token ids of the three splits and the dictionary (id -> word)."""

    name: str
    words: tuple[str, ...]
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    unseen: int = 0  # valid/test words outside the training vocabulary mapped to <unk>

    @property
    def vocabulary_size(self) -> int:
        return len(self.words)

    def split(self, name: str) -> torch.Tensor:
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; known: {', '.join(SPLITS)}")
        return getattr(self, name)


def split_files(folder: str | Path) -> dict[str, Path]:
    """The train/valid/test files of `folder` under one of the accepted namings."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"corpus folder {folder} does not exist")
    for naming in NAMINGS:
        files = {split: folder / naming.format(split) for split in SPLITS}
        if all(path.is_file() for path in files.values()):
            return files
    expected = " or ".join(", ".join(naming.format(s) for s in SPLITS) for naming in NAMINGS)
    raise DataError(f"{folder} holds no PTB-format corpus: expected {expected}")


def read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            return handle.read().splitlines()
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise DataError(f"cannot read corpus file {path}: {error}") from None


def tokenize(lines: Iterable[str]) -> list[str]:
    """Every line's words followed by `<eos>` (empty lines included, as the reference)."""
    tokens: list[str] = []
    for line in lines:
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


def read_corpus(folder: str | Path, name: str | None = None, closed: bool = True) -> Corpus:
    """A PTB-format corpus from `folder` (either naming, or our gzipped files)."""
    files = split_files(folder)
    train_tokens = tokenize(read_lines(files["train"]))
    if not train_tokens or train_tokens == [EOS] * len(train_tokens):
        raise DataError(f"{files['train']} holds no words")
    index: dict[str, int] = {}
    for word in train_tokens:
        index.setdefault(word, len(index))
    splits = {"train": torch.tensor([index[w] for w in train_tokens], dtype=torch.long)}
    unseen = 0
    for split in ("valid", "test"):
        tokens = tokenize(read_lines(files[split]))
        missing = [w for w in tokens if w not in index]
        if missing and closed:
            raise DataError(
                f"{files[split]}: {len(missing)} words are not in the training vocabulary "
                f"(first: {missing[0]!r}); PTB's vocabulary is closed, so this is not PTB "
                "data (map rare words to <unk>, or read it with closed=False)")
        if missing and UNK not in index:
            raise DataError(f"{files[split]}: words outside the training vocabulary "
                            f"(first: {missing[0]!r}) and no {UNK} to map them to")
        unseen += len(missing)
        splits[split] = torch.tensor([index.get(w, index.get(UNK, -1)) for w in tokens],
                                     dtype=torch.long)
    return Corpus(name or Path(folder).name, tuple(index), splits["train"], splits["valid"],
                  splits["test"], unseen)


def embedded_corpus() -> Corpus:
    """The shipped "KJV (PTB format)" corpus (see embedded/LICENSE-kjv.txt)."""
    return read_corpus(EMBEDDED, EMBEDDED_NAME)


def load_corpus(data_dir: str | Path | None) -> Corpus:
    """The corpus in `data_dir` (PTB), or the embedded one without a folder."""
    return embedded_corpus() if data_dir is None else read_corpus(data_dir)


def batchify(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(n, batch_size) with n = len // batch_size: column b is the b-th contiguous slice of
    the token stream; the tail that fills no row is dropped (reference `batchify`)."""
    rows = data.numel() // batch_size
    if rows < 2:
        raise DataError(f"{data.numel()} tokens give fewer than 2 rows at batch size "
                        f"{batch_size}")
    return data[: rows * batch_size].view(batch_size, rows).t().contiguous()


def get_batch(source: torch.Tensor, i: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows i .. i+L-1 as inputs and the next rows as targets (flattened), with
    L = min(seq_len, rows - 1 - i) (reference `get_batch`)."""
    length = min(seq_len, source.shape[0] - 1 - i)
    if length < 1:
        raise DataError(f"no window of {seq_len} rows starts at row {i} of {source.shape[0]}")
    return source[i:i + length], source[i + 1:i + 1 + length].reshape(-1)
