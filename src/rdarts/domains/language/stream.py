"""Truncated-BPTT streams over batchified token matrices (spec sections 4-6).

A batch is `Batch(inputs=(tokens (L, B), hidden (B, H)), targets (L*B,), size=L*B,
lr_scale=seq_len/bptt)`; the hidden state is the one the stream carried from the previous
window (`carry(outputs)` stores the model's last hidden state, detached), and a pass starts
from zeros (the reference calls `init_hidden` at every epoch).

- `WindowStream` (weights): one pass per epoch, `while i < rows - 2: i += seq_len`; the
  window lengths of a pass are drawn from the stream's generator when it starts, so the
  epoch's step count is known and a resume continues the same draws. Search jitter: 35 w.p.
  0.95 else int(17.5) = 17; training jitter: clip(int(N(bptt', 5)), 5, bptt + 20).
- `ArchStream` (alpha): the reference's `get_batch(search_data, i % (rows - 1))` at the
  weights stream's current row i, always `bptt` long, with its own hidden state.
- `InOrder` (one-shot validation, test): consecutive `bptt` windows, hidden carried.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from rdarts.domains.base import Batch
from rdarts.domains.language.corpus import get_batch
from rdarts.domains.language.model import NO_MASKS

JITTERS = ("search", "train", "none")
MAX_SEQ_LEN_DELTA = 20


def window_lengths(rows: int, bptt: int, jitter: str, generator: torch.Generator) -> list[int]:
    """The seq_len of every window of one pass over `rows` rows."""
    lengths, i = [], 0
    while i < rows - 2:
        half = float(torch.rand((), generator=generator)) >= 0.95
        base = bptt / 2 if half else float(bptt)
        if jitter == "search":
            seq_len = int(base)
        elif jitter == "train":
            draw = float(torch.normal(base, 5.0, (), generator=generator))
            seq_len = min(max(5, int(draw)), bptt + MAX_SEQ_LEN_DELTA)
        else:
            seq_len = bptt
        lengths.append(seq_len)
        i += seq_len
    return lengths


class WindowStream:
    """The weights' stream: one pass over the training rows per epoch."""

    def __init__(self, data: torch.Tensor, bptt: int, jitter: str, seed: int,
                 hidden_size: int) -> None:
        self.data, self.bptt, self.jitter = data, bptt, jitter
        self.hidden_size = hidden_size
        self.generator = torch.Generator().manual_seed(seed)
        self.lengths: list[int] = []
        self.index = 0  # windows of the current pass already drawn
        self.hidden = self._zeros()
        self.start = 0  # row of the window drawn last

    def _zeros(self) -> torch.Tensor:
        return self.data.new_zeros((self.data.shape[1], self.hidden_size), dtype=torch.float)

    def _pass(self) -> None:
        """Start the next pass if the current one is used up (or none began)."""
        if self.index >= len(self.lengths):
            self.lengths = window_lengths(self.data.shape[0], self.bptt, self.jitter,
                                          self.generator)
            self.index = 0
            self.hidden = self._zeros()

    @property
    def steps_per_epoch(self) -> int:
        self._pass()
        return len(self.lengths)

    @property
    def pass_started(self) -> bool:
        """Whether the window drawn last was the first of its pass."""
        return self.index == 1

    def next(self) -> Batch:
        self._pass()
        seq_len = self.lengths[self.index]
        self.start = sum(self.lengths[: self.index])
        tokens, targets = get_batch(self.data, self.start, seq_len)
        self.index += 1
        return Batch((tokens, self.hidden), targets, targets.numel(),
                     lr_scale=seq_len / self.bptt)

    def carry(self, outputs: Any) -> None:
        self.hidden = outputs.hidden.detach()

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "lengths": list(self.lengths),
                "index": self.index, "hidden": self.hidden.cpu(), "start": self.start}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.lengths = list(state["lengths"])
        self.index = int(state["index"])
        self.hidden = state["hidden"].to(self.data.device)
        self.start = int(state["start"])


class ArchStream:
    """The alpha stream: `bptt` rows of the alpha split at the weights stream's row."""

    def __init__(self, data: torch.Tensor, bptt: int, leader: WindowStream,
                 hidden_size: int) -> None:
        self.data, self.bptt, self.leader = data, bptt, leader
        self.hidden = data.new_zeros((data.shape[1], hidden_size), dtype=torch.float)

    @property
    def steps_per_epoch(self) -> int:
        return self.leader.steps_per_epoch

    def next(self) -> Batch:
        if self.leader.pass_started:
            self.hidden = torch.zeros_like(self.hidden)
        row = self.leader.start % (self.data.shape[0] - 1)
        tokens, targets = get_batch(self.data, row, self.bptt)
        return Batch((tokens, self.hidden), targets, targets.numel())

    def carry(self, outputs: Any) -> None:
        self.hidden = outputs.hidden.detach()

    def state_dict(self) -> dict[str, Any]:
        return {"hidden": self.hidden.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.hidden = state["hidden"].to(self.data.device)


class InOrder:
    """Consecutive `bptt` windows of a split from a zero hidden state, carried (a `Pass`).

    Its batches switch dropout off (`masks=NO_MASKS`) also where the model runs in training
    mode for batch-statistics BN (RS-ws' scoring); evaluation mode has no dropout anyway."""

    def __init__(self, data: torch.Tensor, bptt: int, hidden_size: int) -> None:
        self.data, self.bptt = data, bptt
        self.hidden = data.new_zeros((data.shape[1], hidden_size), dtype=torch.float)

    def __iter__(self) -> Iterator[Batch]:
        for i in range(0, self.data.shape[0] - 1, self.bptt):
            tokens, targets = get_batch(self.data, i, self.bptt)
            yield Batch((tokens, self.hidden), targets, targets.numel(),
                        options={"masks": NO_MASKS})

    def carry(self, outputs: Any) -> None:
        self.hidden = outputs.hidden.detach()
