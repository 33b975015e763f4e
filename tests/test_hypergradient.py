"""The second-order alpha gradient against autograd through the unrolled SGD step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from rdarts.core.alpha import Architecture, edge_weights
from rdarts.core.hypergradient import (
    first_order,
    second_order_exact,
    second_order_finite_difference,
    unrolled_weights,
)
from rdarts.core.objective import Objective, scratch_buffers
from rdarts.domains.base import Batch
from rdarts.domains.image.spaces import get_space
from rdarts.domains.image.supernet import Supernet

XI, MOMENTUM, WEIGHT_DECAY = 0.05, 0.9, 3e-4
CELLS = ("normal", "reduce")


def _objective(supernet: Supernet) -> Objective:
    """The image objective: cross-entropy of the supernet's logits."""
    return Objective(supernet, lambda logits, batch: F.cross_entropy(logits, batch.targets),
                     CELLS)


def _batch(images: torch.Tensor, labels: torch.Tensor) -> Batch:
    return Batch((images,), labels, len(labels))


def _setup(dtype: torch.dtype = torch.float32):
    space = get_space("s3", nodes=2)
    torch.manual_seed(0)
    supernet = Supernet(space, C=4, num_classes=3, layers=3, in_channels=1).to(dtype)
    alpha = [a.detach().to(dtype).requires_grad_(True)
             for a in Architecture(space).parameters_list()]
    # A non-trivial alpha so that softmax couplings matter.
    with torch.no_grad():
        for a in alpha:
            a.copy_(torch.randn_like(a))
    train_batch = _batch(torch.randn(8, 1, 8, 8, dtype=dtype), torch.randint(0, 3, (8,)))
    val_batch = _batch(torch.randn(8, 1, 8, 8, dtype=dtype), torch.randint(0, 3, (8,)))
    momentum_buffers = {name: 0.1 * torch.randn_like(p) for name, p in supernet.named_parameters()}
    return supernet, alpha, train_batch, val_batch, momentum_buffers


def _autograd_through_unrolled_step(supernet, alpha, train_batch, val_batch, momentum_buffers):
    """Independent computation: build w'(alpha) with create_graph and differentiate L_val(w')."""
    w = {name: p.detach() for name, p in supernet.named_parameters()}

    def loss(params, batch):
        state = {**scratch_buffers(supernet), **params}
        logits = functional_call(supernet, state, (batch.inputs[0], edge_weights(alpha, CELLS)))
        return F.cross_entropy(logits, batch.targets)

    w_leaf = {name: t.clone().requires_grad_(True) for name, t in w.items()}
    grads = torch.autograd.grad(loss(w_leaf, train_batch), list(w_leaf.values()), create_graph=True)
    w_prime = {
        name: w[name] - XI * (MOMENTUM * momentum_buffers[name] + g + WEIGHT_DECAY * w[name])
        for name, g in zip(w, grads, strict=True)
    }
    return torch.autograd.grad(loss(w_prime, val_batch), alpha)


def _relative_error(got, expected) -> float:
    got = torch.cat([g.flatten() for g in got])
    expected = torch.cat([e.flatten() for e in expected])
    return ((got - expected).norm() / expected.norm()).item()


def _kwargs(momentum_buffers):
    return {"xi": XI, "momentum_buffers": momentum_buffers, "momentum": MOMENTUM,
            "weight_decay": WEIGHT_DECAY}


def test_exact_second_order_equals_autograd_through_unrolled_step():
    supernet, alpha, train_batch, val_batch, buffers = _setup(torch.float64)
    expected = _autograd_through_unrolled_step(supernet, alpha, train_batch, val_batch, buffers)
    got = second_order_exact(_objective(supernet), alpha, train_batch, val_batch,
                             **_kwargs(buffers))
    assert _relative_error(got, expected) < 1e-4


def test_exact_second_order_in_float32_is_close_too():
    supernet, alpha, train_batch, val_batch, buffers = _setup(torch.float32)
    expected = _autograd_through_unrolled_step(supernet, alpha, train_batch, val_batch, buffers)
    got = second_order_exact(_objective(supernet), alpha, train_batch, val_batch,
                             **_kwargs(buffers))
    assert _relative_error(got, expected) < 1e-4


def _smoothed(supernet: Supernet) -> Supernet:
    """Replace every ReLU by a softplus (test only).

    A central difference is second-order accurate only where the loss is smooth: with ReLU the
    +-eps shift crosses kinks, and grad_alpha L_train jumps there. On a tiny ReLU network that
    makes the paper's finite difference worse than first order (measured: 34% relative error
    at eps = 0.01 / ||v||, versus 1e-15 for the exact variant), so the formula is checked on a
    smooth network, and the exact variant on the real one.
    """
    for name, child in supernet.named_children():
        if isinstance(child, nn.ReLU):
            supernet.add_module(name, nn.Softplus(beta=4.0))
        else:
            _smoothed(child)
    return supernet


def test_finite_difference_second_order_equals_autograd_through_unrolled_step():
    supernet, alpha, train_batch, val_batch, buffers = _setup(torch.float64)
    _smoothed(supernet)
    expected = _autograd_through_unrolled_step(supernet, alpha, train_batch, val_batch, buffers)
    got = second_order_finite_difference(_objective(supernet), alpha, train_batch, val_batch,
                                         **_kwargs(buffers))
    assert _relative_error(got, expected) < 1e-2


def test_finite_difference_would_catch_the_division_precedence_bug():
    """`/ 2 * eps` instead of `/ (2 * eps)` scales the mixed term by eps^2, leaving about
    grad_alpha L_val(w'): the threshold of the test above must reject that."""
    supernet, alpha, train_batch, val_batch, buffers = _setup(torch.float64)
    _smoothed(supernet)
    expected = _autograd_through_unrolled_step(supernet, alpha, train_batch, val_batch, buffers)
    without_mixed_term = _first_order_at_unrolled(supernet, alpha, train_batch, val_batch, buffers)
    assert _relative_error(without_mixed_term, expected) > 1e-2


def _first_order_at_unrolled(supernet, alpha, train_batch, val_batch, buffers):
    w = {name: p.detach().clone().requires_grad_(True) for name, p in supernet.named_parameters()}
    grad_w = dict(zip(w, torch.autograd.grad(_objective(supernet)(w, alpha, train_batch),
                                             list(w.values())), strict=True))
    w_prime = unrolled_weights({n: t.detach() for n, t in w.items()}, grad_w, buffers, XI,
                               MOMENTUM, WEIGHT_DECAY)
    return torch.autograd.grad(_objective(supernet)(w_prime, alpha, val_batch), alpha)


def test_first_order_is_plain_gradient_of_validation_loss():
    supernet, alpha, _, val_batch, _ = _setup(torch.float64)
    logits = supernet(val_batch.inputs[0], edge_weights(alpha, CELLS))
    expected = torch.autograd.grad(F.cross_entropy(logits, val_batch.targets), alpha)
    got = first_order(_objective(supernet), alpha, val_batch)
    assert _relative_error(got, expected) < 1e-10


@pytest.mark.parametrize("method", [second_order_exact, second_order_finite_difference])
def test_second_order_leaves_weights_and_bn_statistics_untouched(method):
    supernet, alpha, train_batch, val_batch, buffers = _setup()
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    method(_objective(supernet), alpha, train_batch, val_batch, **_kwargs(buffers))
    for key, value in supernet.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_finite_difference_replays_randomness_for_noise_op():
    """With S4's noise op, w+ and w- must see the same noise, else the difference explodes."""
    space = get_space("s4", nodes=2)
    supernet = Supernet(space, C=4, num_classes=3, layers=3, in_channels=1).double()
    alpha = [a.detach().double().requires_grad_(True)
             for a in Architecture(space).parameters_list()]
    batch = _batch(torch.randn(8, 1, 8, 8, dtype=torch.float64), torch.randint(0, 3, (8,)))
    buffers = {}
    got = second_order_finite_difference(_objective(supernet), alpha, batch, batch, xi=0.0,
                                         momentum_buffers=buffers, momentum=MOMENTUM,
                                         weight_decay=0.0)
    with_xi = second_order_finite_difference(_objective(supernet), alpha, batch, batch, xi=XI,
                                             momentum_buffers=buffers, momentum=MOMENTUM,
                                             weight_decay=0.0)
    # The noise-driven part of the validation gradient is of order 1; a mismatch of noise
    # between w+ and w- would add O(1 / eps) = O(100 ||v||) to the mixed term.
    scale = torch.cat([g.flatten() for g in got]).norm()
    difference = torch.cat([(a - b).flatten() for a, b in zip(got, with_xi, strict=True)]).norm()
    assert difference < 50 * scale
