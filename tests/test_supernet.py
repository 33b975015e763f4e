"""Operations and the search network for every built-in space."""

from __future__ import annotations

import pytest
import torch

from rdarts.core.alpha import Architecture, alpha_entry_names
from rdarts.core.genotype import derive, one_hot
from rdarts.core.mixed import MixedEdge
from rdarts.domains.image.ops import OP_NAMES, build_op
from rdarts.domains.image.spaces import BUILTIN_SPACES, get_space
from rdarts.domains.image.supernet import Supernet


@pytest.mark.parametrize("name", OP_NAMES)
@pytest.mark.parametrize("stride", [1, 2])
def test_every_op_keeps_channels_and_halves_at_stride_2(name, stride):
    op = build_op(name, 6, stride, affine=False)
    for size in (8, 7):
        out = op(torch.randn(2, 6, size, size))
        expected = -(-size // stride)
        assert out.shape == (2, 6, expected, expected)


def test_noise_is_fresh_standard_normal_and_ignores_input():
    op = build_op("noise", 4, 1, affine=False)
    x = torch.randn(64, 4, 8, 8, requires_grad=True)
    a, b = op(x), op(x)
    assert not torch.equal(a, b)
    assert abs(a.mean().item()) < 0.05 and abs(a.std().item() - 1) < 0.05
    assert not a.requires_grad


def test_mixed_edge_never_runs_none_but_none_weight_still_gets_gradient():
    edge = MixedEdge(("none", "skip_connect", "sep_conv_3x3"),
                     lambda name: build_op(name, 4, 1, affine=False))
    assert len(edge.ops) == 2
    alpha = torch.zeros(3, requires_grad=True)
    edge(torch.randn(2, 4, 6, 6), alpha.softmax(0)).sum().backward()
    assert alpha.grad[0] != 0  # softmax couples `none` to the others


@pytest.mark.parametrize("name", sorted(BUILTIN_SPACES))
@pytest.mark.parametrize("in_channels,size", [(1, 28), (3, 32)])
def test_supernet_forward_for_every_space(name, in_channels, size):
    space = get_space(name)
    net = Supernet(space, C=4, num_classes=7, layers=5, in_channels=in_channels)
    weights = Architecture(space)()
    assert net(torch.randn(2, in_channels, size, size), weights).shape == (2, 7)


@pytest.mark.parametrize("nodes", [1, 2, 3, 5])
def test_cell_output_concatenates_all_nodes(nodes):
    space = get_space("s2", nodes=nodes)
    net = Supernet(space, C=4, num_classes=3, layers=3, in_channels=1)
    # multiplier = nodes: the classifier sees nodes * 4C channels after two reductions
    assert net.classifier.in_features == nodes * 16
    assert net(torch.randn(2, 1, 16, 16), Architecture(space)()).shape == (2, 3)


def test_alpha_is_small_gaussian_and_not_a_supernet_parameter():
    space = get_space("darts")
    arch = Architecture(space)
    net = Supernet(space, C=4, layers=3)
    alpha_ids = {id(a) for a in arch.parameters()}
    assert not alpha_ids & {id(p) for p in net.parameters()}
    assert arch.alpha["normal"].shape == (14, 8) and arch.alpha["normal"].abs().max() < 0.01


def test_one_hot_weights_equal_forward_of_chosen_ops_only():
    space = get_space("s5")
    net = Supernet(space, C=4, num_classes=3, layers=3, in_channels=1).eval()
    genotype = derive({c: torch.rand(space.alpha_shape(c)) for c in ("normal", "reduce")}, space)
    x = torch.randn(2, 1, 8, 8)
    assert torch.isfinite(net(x, one_hot(genotype, space))).all()


def test_alpha_entry_names_cover_every_entry():
    space = get_space("s1")
    names = alpha_entry_names(space)
    assert len(names) == space.num_alpha == len(set(names))
    assert names[0] == "normal/edge0(n0<-0)/skip_connect"


@pytest.mark.parametrize("name", ["s1", "s3", "darts", "s5"])
def test_genotype_forward_equals_one_hot_weights(name):
    from rdarts.core.genotype import sample_genotype

    space = get_space(name)
    net = Supernet(space, C=4, num_classes=3, layers=3, in_channels=1).eval()
    genotype = sample_genotype(space, torch.Generator().manual_seed(1))
    x = torch.randn(2, 1, 8, 8)
    assert torch.allclose(net(x, None, genotype=genotype), net(x, one_hot(genotype, space)),
                          atol=1e-6)


def test_sampled_genotypes_are_valid_and_varied():
    from rdarts.core.genotype import check_fits, sample_genotype

    space = get_space("s3")
    generator = torch.Generator().manual_seed(0)
    samples = [sample_genotype(space, generator) for _ in range(50)]
    for genotype in samples:
        check_fits(genotype, space)  # no `none`, ops offered on their edge
        for node in genotype.normal + genotype.reduce:
            assert len({source for _, source in node}) == 2
    assert len({str(g) for g in samples}) > 40
