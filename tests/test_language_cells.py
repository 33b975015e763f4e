"""The recurrent cells of the spec: the derived cell's equations, the search supernet (one W_i
per node, one non-affine BN), parameter counts, alpha 36 x |ops| and genotype derivation."""

from __future__ import annotations

import pytest
import torch

from rdarts.core.alpha import Architecture
from rdarts.core.genotype import derive, genotype_from_dict, one_hot
from rdarts.domains.language import spaces
from rdarts.domains.language.genotypes import KNOWN_GENOTYPES
from rdarts.domains.language.model import (
    CellNetwork,
    Dropouts,
    Masks,
    count_parameters,
    sample_masks,
)
from rdarts.domains.language.supernet import RecurrentSupernet
from rdarts.domains.registry import get_domain

NO_DROPOUT = Dropouts(0.0, 0.0, 0.0, 0.0, 0.0)
V2 = genotype_from_dict(KNOWN_GENOTYPES["darts_rnn_v2"], layouts=spaces.LAYOUTS)


def test_spaces_alpha_shapes_and_the_domain_registry():
    assert spaces.BUILTIN_SPACES["darts-rnn"].recurrent[0] == ("relu", "identity")
    for name, width in (("darts-rnn", 2), ("darts-rnn-none", 3), ("darts-rnn-full", 5)):
        space = get_domain("language").space(name)
        assert space.alpha_shape("recurrent") == (36, width)
        assert [a.shape for a in Architecture(space).parameters_list()] == [(36, width)]
    assert V2.concat["recurrent"] == tuple(range(1, 9))
    assert get_domain("language").score.to_dict() == {"name": "perplexity", "higher": False}


def test_derived_cell_follows_the_spec_equations():
    torch.manual_seed(0)
    H, B = 5, 3
    network = CellNetwork(V2, vocabulary=7, size=H, dropouts=NO_DROPOUT).eval()
    x, h_prev = torch.randn(B, H), torch.randn(B, H)
    c0, h0 = (torch.cat([x, h_prev], -1) @ network.W0).chunk(2, -1)
    states = [h_prev + c0.sigmoid() * (h0.tanh() - h_prev)]
    f = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid,
         "identity": lambda t: t}
    for i, ((op, source),) in enumerate(V2.cell("recurrent")):
        c, h = (states[source] @ network.Ws[i]).chunk(2, -1)
        states.append(states[source] + c.sigmoid() * (f[op](h) - states[source]))
    expected = torch.stack(states[1:]).mean(0)
    assert torch.allclose(network.step(x, h_prev, Masks(*[None] * 5)), expected, atol=1e-6)


def test_the_model_ties_the_decoder_and_counts_parameters_as_the_spec():
    search = RecurrentSupernet(spaces.BUILTIN_SPACES["darts-rnn"], 10_000, 300, NO_DROPOUT)
    assert search.decoder.weight is search.encoder.weight
    assert round(count_parameters(search) / 1e6, 2) == 4.81
    assert len(search.Ws) == 8 and search.Ws[0].shape == (300, 600)  # one W_i per node
    assert not search.bn.affine and len(list(search.bn.buffers())) == 3  # one BN module
    small = RecurrentSupernet(spaces.BUILTIN_SPACES["darts-rnn"], 10_000, 64, NO_DROPOUT)
    assert round(count_parameters(small) / 1e6, 2) == 0.73
    evaluation = CellNetwork(V2, 10_000, 850, NO_DROPOUT)
    assert round(count_parameters(evaluation) / 1e6, 2) == 22.96


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_supernet_with_one_hot_weights_equals_the_sampled_path(mode):
    torch.manual_seed(1)
    space = spaces.BUILTIN_SPACES["darts-rnn-full"]
    supernet = RecurrentSupernet(space, 9, 4, Dropouts(0.3, 0.3, 0.3, 0.3, 0.1))
    supernet.train(mode == "train")
    tokens, hidden = torch.randint(9, (5, 3)), torch.randn(3, 4)
    masks = sample_masks(supernet.dropouts, 9, 3, 4, torch.device("cpu"))
    mixed = supernet(tokens, hidden, one_hot(V2, space), masks=masks)
    path = supernet(tokens, hidden, None, masks=masks, genotype=V2)
    assert torch.allclose(mixed.log_probs, path.log_probs, atol=1e-5)
    assert torch.allclose(mixed.hidden, path.hidden, atol=1e-5)
    assert mixed.log_probs.shape == (15, 9) and mixed.raw.shape == (5, 3, 4)
    if mode == "train":  # TAR on the raw outputs
        tar = RecurrentSupernet(space, 9, 4, NO_DROPOUT, tar=1e-2).train()
        tar.load_state_dict(supernet.state_dict())
        again = tar(tokens, hidden, one_hot(V2, space))
        expected = 1e-2 * (again.raw[1:] - again.raw[:-1]).pow(2).mean()
        assert torch.allclose(again.penalty, expected)
    else:
        assert float(mixed.penalty) == 0.0


def _spec_rule(weights: torch.Tensor, ops: tuple[str, ...]) -> list[tuple[str, int]]:
    """Spec section 3, written out: j* = argmax_j max_{o != none} p (lowest j on ties), then
    the strongest op other than none on that edge (first in order on ties)."""
    keep = [k for k, op in enumerate(ops) if op != "none"]
    chosen, row = [], 0
    for node in range(8):
        rows = weights[row:row + node + 1]
        strength = [max(float(r[k]) for k in keep) for r in rows]
        j = strength.index(max(strength))
        best = max(keep, key=lambda k: (float(rows[j][k]), -k))
        chosen.append((ops[best], j))
        row += node + 1
    return chosen


@pytest.mark.parametrize("name", ["darts-rnn", "darts-rnn-none", "darts-rnn-full"])
def test_genotype_derivation_matches_the_spec_rule(name):
    space = spaces.BUILTIN_SPACES[name]
    ops = space.recurrent[0]
    for seed in range(5):
        alpha = torch.randn(36, len(ops), generator=torch.Generator().manual_seed(seed))
        weights = alpha.softmax(-1)
        genotype = derive({"recurrent": weights}, space)
        assert [pair for (pair,) in genotype.cell("recurrent")] == _spec_rule(weights, ops)
    # ties: equal rows -> predecessor 0, first op
    genotype = derive({"recurrent": torch.full((36, len(ops)), 1 / len(ops))}, space)
    first = next(op for op in ops if op != "none")
    assert [pair for (pair,) in genotype.cell("recurrent")] == [(first, 0)] * 8


def test_two_op_space_strength_is_the_edge_confidence():
    """Without none, an edge's strength is max(p_relu, p_identity) >= 0.5 (spec quirk)."""
    space = spaces.BUILTIN_SPACES["darts-rnn"]
    weights = torch.full((36, 2), 0.5)
    weights[1] = torch.tensor([0.3, 0.7])  # node 1 <- 0: identity, confident
    weights[2] = torch.tensor([0.6, 0.4])  # node 1 <- 1: relu, less confident
    genotype = derive({"recurrent": weights}, space)
    assert genotype.cell("recurrent")[1] == (("identity", 0),)
