"""The disparity model pieces: the 1-D correlation (against a loop, twice differentiable, its
peak at the true shift), the S6 space (99 alphas, node 0 of the upsampling cell keeps all 4
inputs), the supernet's predictions at every scale and the evaluation network of a genotype."""

from __future__ import annotations

import pytest
import torch

from rdarts.core.alpha import Architecture
from rdarts.core.genotype import derive, genotype_from_dict, one_hot, sample_genotype
from rdarts.domains.disparity.correlation import corr1d
from rdarts.domains.disparity.network import DisparityNetwork, Topology, count_parameters
from rdarts.domains.disparity.spaces import LAYOUTS, get_space
from rdarts.domains.disparity.supernet import DisparitySupernet
from rdarts.errors import SpaceError

TINY = Topology(C=4, encoder_cells=2, max_displacement=2)


def _naive_corr(left, right, D, one_sided=False):
    B, _, H, W = left.shape
    offsets = range(-D, 1) if one_sided else range(-D, D + 1)
    out = torch.zeros(B, len(offsets), H, W, dtype=left.dtype)
    for k, d in enumerate(offsets):
        for x in range(W):
            if 0 <= x + d < W:
                out[:, k, :, x] = (left[:, :, :, x] * right[:, :, :, x + d]).mean(dim=1)
    return out.clamp_min(0)


@pytest.mark.parametrize("one_sided", [False, True])
def test_corr1d_equals_a_naive_loop(one_sided):
    left, right = torch.randn(2, 5, 3, 9), torch.randn(2, 5, 3, 9)
    out = corr1d(left, right, 3, one_sided=one_sided)
    assert out.shape == (2, 4 if one_sided else 7, 3, 9)
    assert torch.allclose(out, _naive_corr(left, right, 3, one_sided), atol=1e-6)


def test_corr1d_is_twice_differentiable():
    # strictly positive features keep every ReLU input away from its kink
    left = (torch.rand(1, 2, 3, 8, dtype=torch.float64) + 0.5).requires_grad_()
    right = (torch.rand(1, 2, 3, 8, dtype=torch.float64) + 0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: corr1d(a, b, 2), (left, right))
    assert torch.autograd.gradgradcheck(lambda a, b: corr1d(a, b, 2), (left, right))


def test_corr1d_peaks_at_d_minus_the_disparity():
    D, delta = 4, 3
    right = torch.randn(1, 16, 6, 24)
    left = torch.zeros_like(right)
    left[..., delta:] = right[..., :-delta]  # left pixel x is right pixel x - delta
    peak = corr1d(left, right, D).argmax(dim=1)
    assert (peak[..., delta:] == D - delta).all()


def test_the_s6_space_has_99_alphas_and_keeps_all_four_inputs_of_upsampling_node_0():
    space = get_space("s6")
    assert space.cell_types == ("normal", "reduce", "upsample")
    assert space.num_alpha == 99 and space.ops() == ["max_pool_3x3", "sep_conv_3x3",
                                                     "skip_connect"]
    assert [space.alpha_shape(c) for c in space.cell_types] == [(9, 3), (9, 3), (15, 3)]
    assert space.cell("upsample").keep == (4, 2, 2)
    genotype = derive(Architecture(space)(), space)
    data = genotype.to_dict()
    assert [len(data[c]) for c in space.cell_types] == [6, 6, 8]
    assert data["upsample_concat"] == [4, 5, 6]
    assert [source for _, source in data["upsample"][:4]] == [0, 1, 2, 3]
    assert genotype_from_dict(data, layouts=LAYOUTS) == genotype
    with pytest.raises(SpaceError, match="unknown disparity search space"):
        get_space("s7")


def test_discretisation_keeps_the_strongest_edges_by_their_largest_weight():
    space = get_space("s6")
    weights = {c: torch.full(space.alpha_shape(c), 1 / 3) for c in space.cell_types}
    weights["normal"][3] = torch.tensor([0.1, 0.1, 0.8])  # node 1 <- state 1: skip
    weights["normal"][4] = torch.tensor([0.7, 0.2, 0.1])  # node 1 <- state 2: sep conv
    genotype = derive(weights, space)
    assert genotype.cell("normal")[1] == (("skip_connect", 1), ("sep_conv_3x3", 2))


def test_supernet_predicts_at_every_scale_in_input_pixels():
    space = get_space("s6")
    model = DisparitySupernet(space, TINY)
    left, right = torch.rand(2, 3, 32, 64), torch.rand(2, 3, 32, 64)
    out = model(left, right, Architecture(space)())
    assert [(level, tuple(p.shape)) for level, p in out.predictions] == [
        (4, (2, 1, 2, 4)), (3, (2, 1, 4, 8)), (2, (2, 1, 8, 16))]
    assert out.disparity.shape == (2, 1, 32, 64) and (out.disparity >= 0).all()
    cpu = Topology(C=4, encoder_cells=4, max_displacement=2)
    levels = [level for level, _ in DisparitySupernet(space, cpu)(left, right, Architecture(
        space)()).predictions]
    assert levels == [5, 4, 3, 2]


def test_the_previous_prediction_enters_the_upsampling_cell_detached():
    space = get_space("s6")
    model = DisparitySupernet(space, TINY)
    out = model(torch.rand(1, 3, 32, 64), torch.rand(1, 3, 32, 64), Architecture(space)())
    out.predictions[-1][1].sum().backward()  # the finest prediction only
    assert model.predict[0].conv.weight.grad is None  # the coarsest head gets nothing
    model.zero_grad()
    torch.manual_seed(1)
    inputs = (torch.rand(1, 3, 32, 64), torch.rand(1, 3, 32, 64), Architecture(space)())
    through = model(*inputs, stop_gradient=False)
    assert torch.equal(through.disparity, model(*inputs).disparity)  # the same values
    through.predictions[-1][1].sum().backward()
    assert model.predict[0].conv.weight.grad is not None


def test_a_genotype_path_equals_its_one_hot_weights_and_the_network_builds_it():
    space = get_space("s6")
    model = DisparitySupernet(space, TINY).eval()
    genotype = sample_genotype(space, torch.Generator().manual_seed(3))
    left, right = torch.rand(2, 3, 32, 64), torch.rand(2, 3, 32, 64)
    path = model(left, right, None, genotype=genotype).disparity
    assert torch.allclose(path, model(left, right, one_hot(genotype, space)).disparity,
                          atol=1e-6)
    network = DisparityNetwork(genotype, TINY)
    assert network(left, right).disparity.shape == (2, 1, 32, 64)
    assert count_parameters(network) < count_parameters(model)
    odd = network(left[..., :30, :50], right[..., :30, :50]).disparity  # resized and back
    assert odd.shape == (2, 1, 30, 50)
