"""`mixed_sum: batched` computes the loop's cells (rdarts.domains.image.batched).

For one seed both supernets start from the same weights (the batched cell copies a loop
cell's), so outputs, gradients w.r.t. alpha, the weights and the input, and the BN statistics
must agree within fp32 rounding: on every built-in space (S1's per-edge ops take the per-edge
sum, the others the stacked one), with drop path and S4's noise drawn in the loop's order, on
even and odd image sizes (the factorized reduce of a reduction cell pads odd ones).
"""

from __future__ import annotations

import pytest
import torch
from test_speed_options import ORDERS, _CountOps, _hypergradient, _relative, _search, _smoothed

from rdarts.core.genotype import sample_genotype
from rdarts.domains.image.batched import BatchedSearchCell
from rdarts.domains.image.spaces import get_space
from rdarts.domains.image.supernet import Supernet
from rdarts.errors import ConfigError
from rdarts.search.config import resolve


def _pair(space: str, nodes: int | None = None) -> list[Supernet]:
    nets = []
    for mixed_sum in ("loop", "batched"):
        torch.manual_seed(0)
        nets.append(Supernet(get_space(space, nodes), C=4, layers=5, mixed_sum=mixed_sum))
    return nets


def _alpha(space: str, nodes: int | None = None) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {cell.name: torch.randn(cell.alpha_shape, generator=generator, requires_grad=True)
            for cell in get_space(space, nodes).cells}


def _pass(net: Supernet, alpha: dict[str, torch.Tensor], x: torch.Tensor,
          drop_path_prob: float) -> tuple[torch.Tensor, list[torch.Tensor]]:
    torch.manual_seed(2)  # the same drop masks and noise for both
    x = x.clone().requires_grad_(True)
    out = net(x, {name: a.softmax(-1) for name, a in alpha.items()}, drop_path_prob)
    grads = torch.autograd.grad(out.square().sum(), [*alpha.values(), x, *net.parameters()])
    return out, list(grads)


@pytest.mark.parametrize(("space", "nodes", "size"), [
    ("s1", None, 16), ("s2", None, 16), ("s3", None, 15), ("s4", None, 16),
    ("darts", None, 16), ("s3", 2, 16), ("darts", 3, 13),
])
def test_batched_cells_compute_the_loop_cells(space, nodes, size):
    loop, batched = _pair(space, nodes)
    assert isinstance(batched.cells[0], BatchedSearchCell)
    assert (sum(p.numel() for p in batched.parameters())
            == sum(p.numel() for p in loop.parameters()))
    alpha = _alpha(space, nodes)
    x = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(3))
    drop = 0.0 if space == "s4" else 0.3  # S4: noise and masks both random, checked apart
    (out_loop, grads_loop), (out_batched, grads_batched) = (
        _pass(net, alpha, x, drop) for net in (loop, batched))
    assert _relative(out_batched, out_loop) < 1e-5
    count = len(alpha) + 1  # alpha of each cell type, then the input
    for got, expected in zip(grads_batched[:count], grads_loop[:count], strict=True):
        assert _relative(got, expected) < 1e-4
    weight_norms = [torch.cat([g.flatten() for g in grads[count:]]).norm()
                    for grads in (grads_loop, grads_batched)]
    assert weight_norms[1] == pytest.approx(weight_norms[0].item(), rel=1e-4)
    loop.eval()
    batched.eval()  # the running statistics the training pass wrote agree too
    with torch.no_grad():
        weights = {name: a.softmax(-1) for name, a in alpha.items()}
        outs = []
        for net in (loop, batched):
            torch.manual_seed(4)  # S4's noise is random at evaluation too
            outs.append(net(x, weights))
        assert _relative(outs[1], outs[0]) < 1e-5


@pytest.mark.parametrize(("order", "second_order"), ORDERS)
def test_a_batched_search_has_the_loop_hypergradient(order, second_order):
    """At the first step (both searches start from the same weights and alpha; a state
    dict of one layout does not load into the other, and a run keeps its mixed_sum). On the
    softplus network: see test_speed_options."""
    got, expected = (_hypergradient(_smoothed(_search(mixed_sum=kind)), order, second_order,
                                    first=True) for kind in ("batched", "loop"))
    assert not torch.equal(got, expected)
    assert _relative(got, expected) < 1e-4


def test_s4_noise_and_drop_path_are_drawn_in_the_loop_order():
    loop, batched = _pair("s4")
    alpha = _alpha("s4")
    x = torch.randn(4, 3, 16, 16)
    outs = [_pass(net, alpha, x, 0.3)[0] for net in (loop, batched)]
    assert _relative(outs[1], outs[0]) < 1e-5
    torch.manual_seed(5)  # another draw differs: the noise is really drawn
    other = batched(x, {name: a.softmax(-1) for name, a in alpha.items()}, 0.3)
    assert _relative(other, outs[0]) > 1e-2


def test_batched_cells_dispatch_fewer_operations():
    counts = []
    for net in _pair("s3"):
        alpha = _alpha("s3")
        with _CountOps() as counter:
            out = net(torch.randn(4, 3, 16, 16), {k: a.softmax(-1) for k, a in alpha.items()})
            torch.autograd.grad(out.sum(), [*net.parameters(), *alpha.values()])
        counts.append(counter.count)
    assert counts[1] < 0.8 * counts[0]  # measured: 2665 against 3607 (S3, 4 nodes, 5 cells)


def test_a_single_path_is_refused_with_the_reason():
    _, batched = _pair("s3")
    genotype = sample_genotype(get_space("s3"), torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="nothing to batch"):
        batched(torch.randn(2, 3, 8, 8), None, genotype=genotype)


@pytest.mark.parametrize(("changes", "message"), [
    ({"method": "rs-ws"}, "RS-ws trains single paths"),
    ({"channels_last": True}, "does not combine with channels_last"),
])
def test_batched_with_what_it_cannot_serve_is_a_config_error(changes, message):
    with pytest.raises(ConfigError, match=message):
        resolve(overrides={"mixed_sum": "batched", **changes})


def test_a_batched_supernet_round_trips_its_state_dict_without_index_buffers():
    _, batched = _pair("s3")
    state = batched.state_dict()
    assert not any("edge_index" in key for key in state)  # rebuilt from the space, not saved
    _, other = _pair("s3")
    other.load_state_dict(state)
    x = torch.randn(2, 3, 8, 8)
    weights = {name: a.softmax(-1) for name, a in _alpha("s3").items()}
    batched.eval()
    other.eval()
    assert torch.equal(other(x, weights), batched(x, weights))
