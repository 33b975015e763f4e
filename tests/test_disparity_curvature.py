"""Curvature and hypergradients through the whole S6 supernet, correlation included: the
alpha-Hessian-vector product against finite differences of the gradient, lambda_max by
Lanczos against a dense Hessian's eigenvalues, and the first- and second-order hypergradients
against autograd through the unrolled weight step (float64, a tiny supernet)."""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call

from rdarts.core.alpha import Architecture, edge_weights
from rdarts.core.curvature import HessianOperator, flatten, lambda_max, unflatten
from rdarts.core.hypergradient import first_order, second_order_exact
from rdarts.core.objective import Objective, scratch_buffers
from rdarts.domains.base import Batch
from rdarts.domains.disparity.loss import multiscale_loss
from rdarts.domains.disparity.network import Topology
from rdarts.domains.disparity.spaces import get_space
from rdarts.domains.disparity.supernet import DisparitySupernet

XI, MOMENTUM, WEIGHT_DECAY = 0.05, 0.9, 3e-4
SPACE = get_space("s6")


def _batch(seed: int) -> Batch:
    """Right view = left view shifted by 3 px, ground truth 3 px, a NaN border."""
    generator = torch.Generator().manual_seed(seed)
    left = torch.rand(2, 3, 32, 64, generator=generator, dtype=torch.float64)
    right = torch.roll(left, -3, dims=-1)
    disparity = torch.full((2, 1, 32, 64), 3.0, dtype=torch.float64)
    disparity[..., -3:] = torch.nan
    return Batch((left, right), disparity, 2)


def _setup():
    torch.manual_seed(0)
    supernet = DisparitySupernet(SPACE, Topology(C=2, encoder_cells=2, max_displacement=2))
    supernet = supernet.double().train()
    alpha = [(torch.randn_like(a, dtype=torch.float64)).requires_grad_(True)
             for a in Architecture(SPACE).parameters_list()]
    objective = Objective(supernet, multiscale_loss_of, SPACE.cell_types)
    return supernet, alpha, objective


def multiscale_loss_of(outputs, batch):
    return multiscale_loss(outputs, batch.targets)


def _closure(supernet, objective, batch):
    """L_val(alpha) as the curvature probe evaluates it: without the stop-gradient."""
    params = {n: p.detach() for n, p in supernet.named_parameters()}
    return lambda alpha: objective(params, alpha, batch, forward={"stop_gradient": False})


def test_the_alpha_hvp_through_the_correlation_matches_finite_differences():
    supernet, alpha, objective = _setup()
    loss = _closure(supernet, objective, _batch(1))
    assert len(flatten(alpha)) == 99
    v = torch.randn(99, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    hv = HessianOperator([loss], alpha).matvec(v)

    def gradient(shift: float) -> torch.Tensor:
        point = [(a.detach() + shift * d).requires_grad_(True)
                 for a, d in zip(alpha, unflatten(v, alpha), strict=True)]
        return flatten(torch.autograd.grad(loss(point), point))

    eps = 1e-5
    difference = (gradient(eps) - gradient(-eps)) / (2 * eps)
    assert hv.norm() > 0
    assert torch.allclose(hv, difference, rtol=1e-4, atol=1e-7 * hv.abs().max().item())


def test_lambda_max_by_lanczos_matches_the_dense_hessian_within_one_percent():
    supernet, alpha, objective = _setup()
    loss = _closure(supernet, objective, _batch(3))
    detached = [a.detach() for a in alpha]
    shapes = [a.shape for a in detached]

    def flat_loss(vector: torch.Tensor) -> torch.Tensor:
        return loss(unflatten(vector, detached))

    dense = torch.autograd.functional.hessian(flat_loss, flatten(detached), vectorize=True).numpy()
    eigenvalues = np.linalg.eigvalsh((dense + dense.T) / 2)
    result = lambda_max([loss], detached, tol=1e-6, max_iter=99)
    assert shapes == [(9, 3), (9, 3), (15, 3)]
    assert abs(result.lambda_max - eigenvalues[-1]) <= 0.01 * abs(eigenvalues[-1])
    # softmax rows are shift invariant: one zero eigenvalue per edge (33)
    assert np.sum(np.abs(eigenvalues) < 1e-8 * np.abs(eigenvalues).max()) >= 33


def _autograd_through_unrolled_step(supernet, alpha, train_batch, val_batch, buffers):
    w = {name: p.detach() for name, p in supernet.named_parameters()}

    def loss(params, batch):
        state = {**scratch_buffers(supernet), **params}
        outputs = functional_call(supernet, state, (*batch.inputs,
                                                    edge_weights(alpha, SPACE.cell_types)))
        return multiscale_loss(outputs, batch.targets)

    leaves = {name: t.clone().requires_grad_(True) for name, t in w.items()}
    grads = torch.autograd.grad(loss(leaves, train_batch), list(leaves.values()),
                                create_graph=True)
    w_prime = {name: w[name] - XI * (MOMENTUM * buffers[name] + g + WEIGHT_DECAY * w[name])
               for name, g in zip(w, grads, strict=True)}
    return torch.autograd.grad(loss(w_prime, val_batch), alpha)


def _relative_error(got, expected) -> float:
    got, expected = flatten(got), flatten(expected)
    return ((got - expected).norm() / expected.norm()).item()


def test_second_order_hypergradient_equals_autograd_through_the_unrolled_step():
    supernet, alpha, objective = _setup()
    train_batch, val_batch = _batch(4), _batch(5)
    buffers = {name: 0.1 * torch.randn_like(p) for name, p in supernet.named_parameters()}
    expected = _autograd_through_unrolled_step(supernet, alpha, train_batch, val_batch, buffers)
    got = second_order_exact(objective, alpha, train_batch, val_batch, xi=XI,
                             momentum_buffers=buffers, momentum=MOMENTUM,
                             weight_decay=WEIGHT_DECAY)
    assert _relative_error(got, expected) < 1e-6


def test_first_order_hypergradient_is_the_gradient_of_the_validation_loss():
    supernet, alpha, objective = _setup()
    batch = _batch(6)
    outputs = supernet(*batch.inputs, edge_weights(alpha, SPACE.cell_types))
    expected = torch.autograd.grad(multiscale_loss(outputs, batch.targets), alpha)
    assert _relative_error(first_order(objective, alpha, batch), expected) < 1e-10
