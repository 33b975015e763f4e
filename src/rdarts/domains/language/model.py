"""The language model around a recurrent cell, and DARTS' derived cell (spec section 1).

tokens -> embedding (embedding dropout: whole vocabulary rows) -> locked dropout (dropouti)
-> the cell over T steps (dropoutx on x_t, dropouth on every matmul input; one mask per
forward call, shared by all steps) -> locked dropout (dropout) -> decoder tied to the
embedding -> log_softmax. Training mode only; evaluation runs without masks. All weights start
as U(-0.04, 0.04), the decoder bias at 0 (`model.py: RNNModel`).

Masks may be passed in (`masks=`): a curvature probe freezes them for a whole estimate, so the
loss it differentiates twice is a fixed function of alpha (spec section 8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from rdarts.core.genotype import Genotype

INIT_RANGE = 0.04


@dataclass(frozen=True)
class Dropouts:
    """The five dropout rates of AWD-LSTM / DARTS (output, hidden, x, input, embedding)."""

    output: float = 0.75
    hidden: float = 0.25
    x: float = 0.75
    input: float = 0.2
    embedding: float = 0.0


@dataclass(frozen=True)
class Masks:
    """One draw of every dropout mask, already scaled by 1/(1-p); None where p = 0."""

    embedding: torch.Tensor | None  # (V, 1): whole vocabulary rows
    input: torch.Tensor | None  # (1, B, E): locked over time
    x: torch.Tensor | None  # (B, E)
    hidden: torch.Tensor | None  # (B, H)
    output: torch.Tensor | None  # (1, B, H)


NO_MASKS = Masks(None, None, None, None, None)


def bernoulli_mask(shape: tuple[int, ...], p: float, device: torch.device,
                   generator: torch.Generator | None = None) -> torch.Tensor | None:
    if p <= 0.0:
        return None
    keep = torch.full(shape, 1.0 - p)
    mask = torch.bernoulli(keep, generator=generator) / (1.0 - p)
    return mask.to(device)


def sample_masks(dropouts: Dropouts, vocabulary: int, batch: int, size: int,
                 device: torch.device, generator: torch.Generator | None = None) -> Masks:
    """Masks for one forward call on `batch` sequences (E = H = `size`)."""
    return Masks(
        embedding=bernoulli_mask((vocabulary, 1), dropouts.embedding, device, generator),
        input=bernoulli_mask((1, batch, size), dropouts.input, device, generator),
        x=bernoulli_mask((batch, size), dropouts.x, device, generator),
        hidden=bernoulli_mask((batch, size), dropouts.hidden, device, generator),
        output=bernoulli_mask((1, batch, size), dropouts.output, device, generator),
    )


def _apply(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x * mask


class LMOutput(NamedTuple):
    """log p of every target (T*B, V), the last hidden state (B, H), the raw cell outputs
    (T, B, H) and the weight step's activation penalty (AR + TAR; 0 in eval mode)."""

    log_probs: torch.Tensor
    hidden: torch.Tensor
    raw: torch.Tensor
    penalty: torch.Tensor


ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid,
               "identity": lambda x: x}


class RecurrentLM(nn.Module):
    """Embedding, dropouts and tied decoder around `self.step` (a cell's one time step)."""

    def __init__(self, vocabulary: int, size: int, dropouts: Dropouts, ar: float = 0.0,
                 tar: float = 0.0) -> None:
        super().__init__()
        self.vocabulary, self.size, self.dropouts = vocabulary, size, dropouts
        self.ar, self.tar = ar, tar
        self.encoder = nn.Embedding(vocabulary, size)
        self.decoder = nn.Linear(size, vocabulary)
        self.decoder.weight = self.encoder.weight  # tied (E = H, spec section 1)
        nn.init.uniform_(self.encoder.weight, -INIT_RANGE, INIT_RANGE)
        nn.init.zeros_(self.decoder.bias)
        self.W0 = nn.Parameter(torch.empty(2 * size, 2 * size).uniform_(-INIT_RANGE, INIT_RANGE))

    def init_hidden(self, batch: int) -> torch.Tensor:
        return self.encoder.weight.new_zeros(batch, self.size)

    def highway(self, x: torch.Tensor, h_prev: torch.Tensor, masks: Masks) -> torch.Tensor:
        """s0 = h + sigmoid(c0) (tanh(h0) - h), [c0 | h0] = [x m_x, h m_h] W0."""
        xh = torch.cat([_apply(x, masks.x), _apply(h_prev, masks.hidden)], dim=-1)
        c0, h0 = (xh @ self.W0).chunk(2, dim=-1)
        return h_prev + torch.sigmoid(c0) * (torch.tanh(h0) - h_prev)

    def run(self, tokens: torch.Tensor, hidden: torch.Tensor, masks: Masks | None,
            step) -> LMOutput:
        """The model over a (T, B) window from `hidden`; `step(x_t, h, masks) -> h_next`."""
        if not self.training:
            masks = NO_MASKS
        elif masks is None:
            masks = sample_masks(self.dropouts, self.vocabulary, tokens.shape[1], self.size,
                                 tokens.device)
        weight = _apply(self.encoder.weight, masks.embedding)
        emb = _apply(F.embedding(tokens, weight), masks.input)
        outputs = []
        h = hidden
        for x_t in emb:
            h = step(x_t, h, masks)
            outputs.append(h)
        raw = torch.stack(outputs)
        dropped = _apply(raw, masks.output)
        logits = self.decoder(dropped.reshape(-1, self.size))
        penalty = raw.new_zeros(())
        if self.training:
            if self.ar:
                penalty = penalty + self.ar * dropped.pow(2).mean()
            if self.tar:
                penalty = penalty + self.tar * (raw[1:] - raw[:-1]).pow(2).mean()
        return LMOutput(F.log_softmax(logits, dim=-1), h, raw, penalty)


class CellNetwork(RecurrentLM):
    """The discrete network of a genotype: DARTS' `DARTSCell` in `RNNModel` (no BN).

    Node i: [c_i | h_i] = (s_{p_i} m_h) W_i, s_i = s_p + sigmoid(c_i) (f_i(h_i) - s_p);
    the output is the mean of the concatenated states (s_1..s_8).
    """

    def __init__(self, genotype: Genotype, vocabulary: int, size: int, dropouts: Dropouts,
                 ar: float = 0.0, tar: float = 0.0) -> None:
        super().__init__(vocabulary, size, dropouts, ar, tar)
        self.nodes = [(op, source) for ((op, source),) in genotype.cell("recurrent")]
        self.concat = list(genotype.concat["recurrent"])
        self.Ws = nn.ParameterList(
            nn.Parameter(torch.empty(size, 2 * size).uniform_(-INIT_RANGE, INIT_RANGE))
            for _ in self.nodes)

    def step(self, x: torch.Tensor, h_prev: torch.Tensor, masks: Masks) -> torch.Tensor:
        states = [self.highway(x, h_prev, masks)]
        for (op, source), W in zip(self.nodes, self.Ws, strict=True):
            s_prev = states[source]
            c, h = (_apply(s_prev, masks.hidden) @ W).chunk(2, dim=-1)
            states.append(s_prev + torch.sigmoid(c) * (ACTIVATIONS[op](h) - s_prev))
        return torch.stack([states[i] for i in self.concat]).mean(dim=0)

    def forward(self, tokens: torch.Tensor, hidden: torch.Tensor,
                masks: Masks | None = None) -> LMOutput:
        return self.run(tokens, hidden, masks, self.step)


def count_parameters(model: nn.Module) -> int:
    """Parameters, the tied embedding/decoder matrix counted once."""
    return sum(p.numel() for p in model.parameters())
