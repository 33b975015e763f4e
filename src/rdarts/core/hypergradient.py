"""Gradients of the validation loss w.r.t. alpha: the outer step of DARTS' bilevel problem.

Paper Eq. (2) (DARTS, Liu et al. 2019): min_alpha L_val(w*(alpha), alpha) with
w*(alpha) = argmin_w L_train(w, alpha). DARTS approximates w* by one SGD step,

    w' = w - xi * (momentum * m + grad_w L_train(w, alpha) + wd * w),

and differentiates L_val(w', alpha) through it (spec section 3):

    g = grad_alpha L_val(w', alpha) - xi * grad^2_{alpha, w} L_train(w, alpha) . v,
    v = grad_w' L_val(w', alpha).

The mixed second-order term is either a central finite difference (the paper's choice) or an
exact double-backward product. Every network evaluation is the domain's objective (a
`functional_call` on the one supernet with other weights and scratch BN buffers): no model
copies, no side effects, and no knowledge of what a batch holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from rdarts.core.objective import Objective, Tensors

Batch = Any  # a domain's batch (rdarts.domains.base.Batch); only the objective looks inside


def first_order(objective: Objective, alpha: list[torch.Tensor], val_batch: Batch,
                forward: Mapping[str, Any] | None = None) -> list[torch.Tensor]:
    """grad_alpha L_val(w, alpha): DARTS' first-order approximation (xi = 0)."""
    loss = objective(objective.weights(), alpha, val_batch, forward=forward)
    return list(torch.autograd.grad(loss, alpha))


def unrolled_weights(w: Tensors, grad_w: Tensors, momentum_buffers: Tensors, xi: float,
                     momentum: float, weight_decay: float) -> Tensors:
    """w' = w - xi * (momentum * m + grad_w L_train + wd * w): one virtual SGD step (spec 3).

    `momentum_buffers` may lack entries (first step): their m is 0, as in torch's SGD.
    """
    w_prime = {}
    for name, w_i in w.items():
        direction = grad_w[name] + weight_decay * w_i
        m = momentum_buffers.get(name)
        if m is not None:
            direction = direction + momentum * m
        w_prime[name] = w_i - xi * direction
    return w_prime


@contextlib.contextmanager
def _replayed_randomness(device: torch.device) -> Iterator[None]:
    """Run a block, then rewind the RNG so the next block draws the same noise / drop masks.

    The finite difference compares L_train at w+ and w-; with different random draws (S4's noise
    op, drop path) it would measure noise / (2 eps) instead of curvature.
    """
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        yield


def _val_step_at_unrolled(objective: Objective, alpha: list[torch.Tensor], w_prime: Tensors,
                          val_batch: Batch, forward: Mapping[str, Any] | None
                          ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """grad_alpha L_val(w', alpha) and v = grad_w' L_val(w', alpha)."""
    w_prime = {name: t.detach().requires_grad_(True) for name, t in w_prime.items()}
    loss = objective(w_prime, alpha, val_batch, forward=forward)
    grads = torch.autograd.grad(loss, [*alpha, *w_prime.values()])
    return list(grads[: len(alpha)]), list(grads[len(alpha):])


def second_order_finite_difference(
    objective: Objective, alpha: list[torch.Tensor], train_batch: Batch, val_batch: Batch, *,
    xi: float, momentum_buffers: Tensors, momentum: float, weight_decay: float,
    forward: Mapping[str, Any] | None = None, r: float = 0.01,
) -> list[torch.Tensor]:
    """The paper's second-order alpha gradient with the central difference

        grad^2_{alpha,w} L_train . v ~ [grad_alpha L_train(w+) - grad_alpha L_train(w-)] / (2 eps),

    w+- = w +- eps v, eps = r / ||v|| (DARTS Eq. 8; note the parentheses around 2 eps).
    """
    w = {name: p.detach() for name, p in objective.weights().items()}
    w_leaf = {name: w_i.clone().requires_grad_(True) for name, w_i in w.items()}
    train_loss = objective(w_leaf, [a.detach() for a in alpha], train_batch, forward=forward)
    grad_w = dict(zip(w, torch.autograd.grad(train_loss, list(w_leaf.values())), strict=True))
    w_prime = unrolled_weights(w, grad_w, momentum_buffers, xi, momentum, weight_decay)
    g_val, v = _val_step_at_unrolled(objective, alpha, w_prime, val_batch, forward)

    eps = r / torch.cat([t.flatten() for t in v]).norm()
    grad_plus, grad_minus = [], []
    device = alpha[0].device
    for sign, out in ((1.0, grad_plus), (-1.0, grad_minus)):
        w_shifted = {name: w_i + sign * eps * v_i for (name, w_i), v_i in zip(w.items(), v,
                                                                            strict=True)}
        context = _replayed_randomness(device) if sign > 0 else contextlib.nullcontext()
        with context:
            loss = objective(w_shifted, alpha, train_batch, forward=forward)
            out.extend(torch.autograd.grad(loss, alpha))
    return [g - xi * (gp - gm) / (2 * eps)
            for g, gp, gm in zip(g_val, grad_plus, grad_minus, strict=True)]


def second_order_exact(
    objective: Objective, alpha: list[torch.Tensor], train_batch: Batch, val_batch: Batch, *,
    xi: float, momentum_buffers: Tensors, momentum: float, weight_decay: float,
    forward: Mapping[str, Any] | None = None,
) -> list[torch.Tensor]:
    """The same gradient with the mixed term computed exactly by double backward:

        grad^2_{alpha,w} L_train . v = grad_alpha < grad_w L_train(w, alpha), v >.

    The graph of grad_w L_train (needed for w' anyway) is kept and differentiated once more.
    """
    w = {name: p.detach().clone().requires_grad_(True)
         for name, p in objective.weights().items()}
    train_loss = objective(w, alpha, train_batch, forward=forward)
    grad_w = torch.autograd.grad(train_loss, list(w.values()), create_graph=True)
    w_prime = unrolled_weights({n: t.detach() for n, t in w.items()},
                               {n: g.detach() for n, g in zip(w, grad_w, strict=True)},
                               momentum_buffers, xi, momentum, weight_decay)
    g_val, v = _val_step_at_unrolled(objective, alpha, w_prime, val_batch, forward)
    inner = sum((g * v_i).sum() for g, v_i in zip(grad_w, v, strict=True))
    mixed = torch.autograd.grad(inner, alpha, allow_unused=True)
    return [g - xi * (torch.zeros_like(g) if m is None else m)
            for g, m in zip(g_val, mixed, strict=True)]
