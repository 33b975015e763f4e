"""A tiny in-memory corpus and search for the language tests (milliseconds per step)."""

from __future__ import annotations

import torch

from rdarts.domains.language.corpus import Corpus
from rdarts.domains.language.domain import LanguageDomain
from rdarts.search.config import resolve
from rdarts.search.loop import Search

VOCABULARY = 12


def tiny_corpus(tokens: int = 600, seed: int = 0) -> Corpus:
    """Random token ids with a little structure (token t+1 often follows t)."""
    generator = torch.Generator().manual_seed(seed)
    steps = torch.randint(0, 3, (3 * tokens,), generator=generator)
    stream = torch.cumsum(steps, 0) % VOCABULARY
    words = (*(f"w{i}" for i in range(VOCABULARY - 1)), "<eos>")
    return Corpus("tiny", words, stream[:tokens], stream[tokens:2 * tokens],
                  stream[2 * tokens:])


def tiny_config(**changes):
    values = {"domain": "language", "device": "cpu", "hidden_size": 6, "batch_size": 4,
              "bptt": 8, "epochs": 2, "eval_batch_size": 2, "train_tokens": 200,
              "valid_tokens": 120, **changes}
    return resolve("smoke", None, values)


def tiny_search(**changes) -> Search:
    return Search(tiny_config(**changes), LanguageDomain(corpus=tiny_corpus()),
                  torch.device("cpu"))
