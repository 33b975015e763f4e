"""Gradients of the validation loss w.r.t. alpha: the outer step of DARTS' bilevel problem.

Paper Eq. (2) (DARTS, Liu et al. 2019): min_alpha L_val(w*(alpha), alpha) with
w*(alpha) = argmin_w L_train(w, alpha). DARTS approximates w* by one SGD step,

    w' = w - xi * (momentum * m + grad_w L_train(w, alpha) + wd * w),

and differentiates L_val(w', alpha) through it (spec section 3):

    g = grad_alpha L_val(w', alpha) - xi * grad^2_{alpha, w} L_train(w, alpha) . v,
    v = grad_w' L_val(w', alpha).

The mixed second-order term is either a central finite difference (the paper's choice) or an
exact double-backward product.

With `grad_clip` C the virtual step clips its gradient as the weight step does (DARTS' RNN
architect; spec section 4): w' = w - xi * (c g + wd * w), g = grad_w L_train, c = min(1,
C / (||g|| + 1e-6)). Differentiating the clip too, the mixed term becomes

    d(c g)/d alpha^T v = c * grad^2_{alpha, w} L_train . u,
    u = v - (g . v) / (||g|| (||g|| + 1e-6)) * g   when c < 1 (u = v otherwise),

one product with the projected vector u. (The reference code instead multiplies the product
with v by C / (||g|| + 1e-6) even when that exceeds 1, drops the projection and clips v too;
this is the exact gradient of the clipped step, checked against autograd.)

Every network evaluation is the domain's objective (a `functional_call` on the one supernet
with other weights and scratch BN buffers): no model copies, no side effects, and no knowledge
of what a batch holds.

Two execution options change how, not what, is computed. `lean`: the virtual step and the
+-eps shifts as foreach ops over all weights at once (the same IEEE operations per element,
so bitwise equal), new leaves as aliases rather than copies, and one scratch copy of the BN
buffers for all passes of a hypergradient instead of one per pass: in training mode batch
norm normalises by the batch's statistics and only writes the running ones, so passes that
share the scratch copy compute exactly what separate copies compute (and the search's own
statistics are untouched either way). `autocast` (finite difference only): the virtual step's
training pass under autocast at that dtype (bf16); w' moves by xi times its gradient, so a
relative error of bf16's 2^-8 in that gradient barely moves w', while the +-eps passes, whose
difference is divided by 2 eps, and the validation pass stay in fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from rdarts.core.objective import Objective, Tensors, scratch_buffers

Batch = Any  # a domain's batch (rdarts.domains.base.Batch); only the objective looks inside


def first_order(objective: Objective, alpha: list[torch.Tensor], val_batch: Batch,
                forward: Mapping[str, Any] | None = None) -> list[torch.Tensor]:
    """grad_alpha L_val(w, alpha): DARTS' first-order approximation (xi = 0)."""
    loss = objective(objective.weights(), alpha, val_batch, forward=forward)
    return list(torch.autograd.grad(loss, alpha))


def clip_coefficient(grads: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """c = min(1, max_norm / (||grads|| + 1e-6)): torch's `clip_grad_norm_` factor (keeps the
    graph of `grads` when they have one)."""
    norm = torch.cat([g.reshape(-1) for g in grads]).norm()
    return torch.clamp(max_norm / (norm + 1e-6), max=1.0)


def clipped_direction(grads: list[torch.Tensor], v: list[torch.Tensor],
                      max_norm: float | None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(c g, u): the clipped virtual-step gradient and the vector the mixed term multiplies
    (see the module docstring); without a clip, (g, v)."""
    if max_norm is None:
        return grads, v
    c = clip_coefficient(grads, max_norm)
    if c >= 1.0:
        return grads, v
    norm = torch.cat([g.reshape(-1) for g in grads]).norm()
    g_dot_v = sum((g * v_i).sum() for g, v_i in zip(grads, v, strict=True))
    coef = g_dot_v / (norm * (norm + 1e-6))
    return [c * g for g in grads], [c * (v_i - coef * g) for g, v_i in zip(grads, v,
                                                                          strict=True)]


def unrolled_weights(w: Tensors, grad_w: Tensors, momentum_buffers: Tensors, xi: float,
                     momentum: float, weight_decay: float, lean: bool = False) -> Tensors:
    """w' = w - xi * (momentum * m + grad_w L_train + wd * w): one virtual SGD step (spec 3).

    `momentum_buffers` may lack entries (first step): their m is 0, as in torch's SGD.
    `lean`: the same operations as foreach ops over all weights (bitwise equal).
    """
    if lean:
        return _unrolled_foreach(w, grad_w, momentum_buffers, xi, momentum, weight_decay)
    w_prime = {}
    for name, w_i in w.items():
        direction = grad_w[name] + weight_decay * w_i
        m = momentum_buffers.get(name)
        if m is not None:
            direction = direction + momentum * m
        w_prime[name] = w_i - xi * direction
    return w_prime


def _unrolled_foreach(w: Tensors, grad_w: Tensors, momentum_buffers: Tensors, xi: float,
                      momentum: float, weight_decay: float) -> Tensors:
    names = list(w)
    w_list = [w[n] for n in names]
    direction = list(torch._foreach_add([grad_w[n] for n in names],
                                        torch._foreach_mul(w_list, weight_decay)))
    with_m = [i for i, n in enumerate(names) if n in momentum_buffers]
    if with_m:
        moved = torch._foreach_add([direction[i] for i in with_m], torch._foreach_mul(
            [momentum_buffers[names[i]] for i in with_m], momentum))
        for i, d in zip(with_m, moved, strict=True):
            direction[i] = d
    return dict(zip(names, torch._foreach_sub(w_list, torch._foreach_mul(direction, xi)),
                    strict=True))


def _shifted(w: Tensors, v: list[torch.Tensor], step: torch.Tensor, lean: bool) -> Tensors:
    """w + step * v (step = +-eps, a 0-d tensor); `lean`: as two foreach ops."""
    if lean:
        return dict(zip(w, torch._foreach_add(list(w.values()), torch._foreach_mul(v, step)),
                        strict=True))
    return {name: w_i + step * v_i for (name, w_i), v_i in zip(w.items(), v, strict=True)}


def _leaves(w: Tensors, lean: bool) -> Tensors:
    """Leaves to differentiate at w: copies of w, or (`lean`) aliases of its storage (nothing
    writes into them, so the values are the same)."""
    if lean:
        return {name: w_i.detach().requires_grad_(True) for name, w_i in w.items()}
    return {name: w_i.detach().clone().requires_grad_(True) for name, w_i in w.items()}


def _autocast(device: torch.device, dtype: torch.dtype | None
              ) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


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
                          val_batch: Batch, forward: Mapping[str, Any] | None,
                          buffers: Tensors | None = None
                          ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """grad_alpha L_val(w', alpha) and v = grad_w' L_val(w', alpha)."""
    w_prime = {name: t.detach().requires_grad_(True) for name, t in w_prime.items()}
    loss = objective(w_prime, alpha, val_batch, buffers, forward)
    grads = torch.autograd.grad(loss, [*alpha, *w_prime.values()])
    return list(grads[: len(alpha)]), list(grads[len(alpha):])


def second_order_finite_difference(
    objective: Objective, alpha: list[torch.Tensor], train_batch: Batch, val_batch: Batch, *,
    xi: float, momentum_buffers: Tensors, momentum: float, weight_decay: float,
    forward: Mapping[str, Any] | None = None, r: float = 0.01, grad_clip: float | None = None,
    lean: bool = False, autocast: torch.dtype | None = None,
) -> list[torch.Tensor]:
    """The paper's second-order alpha gradient with the central difference

        grad^2_{alpha,w} L_train . v ~ [grad_alpha L_train(w+) - grad_alpha L_train(w-)] / (2 eps),

    w+- = w +- eps v, eps = r / ||v|| (DARTS Eq. 8; note the parentheses around 2 eps); with
    `grad_clip`, the clipped step's vector u instead of v (module docstring). `lean` and
    `autocast`: the execution options of the module docstring.
    """
    w = {name: p.detach() for name, p in objective.weights().items()}
    buffers = scratch_buffers(objective.model) if lean else None
    device = alpha[0].device
    w_leaf = _leaves(w, lean)
    with _autocast(device, autocast):
        train_loss = objective(w_leaf, [a.detach() for a in alpha], train_batch, buffers,
                               forward)
    grads = list(torch.autograd.grad(train_loss, list(w_leaf.values())))
    step, _ = clipped_direction(grads, grads, grad_clip)
    w_prime = unrolled_weights(w, dict(zip(w, step, strict=True)), momentum_buffers, xi,
                               momentum, weight_decay, lean)
    g_val, v = _val_step_at_unrolled(objective, alpha, w_prime, val_batch, forward, buffers)
    _, v = clipped_direction(grads, v, grad_clip)

    eps = r / torch.cat([t.flatten() for t in v]).norm()
    grad_plus, grad_minus = [], []
    for sign, out in ((1.0, grad_plus), (-1.0, grad_minus)):
        w_shifted = _shifted(w, v, sign * eps, lean)
        context = _replayed_randomness(device) if sign > 0 else contextlib.nullcontext()
        with context:
            loss = objective(w_shifted, alpha, train_batch, buffers, forward)
            out.extend(torch.autograd.grad(loss, alpha))
    return [g - xi * (gp - gm) / (2 * eps)
            for g, gp, gm in zip(g_val, grad_plus, grad_minus, strict=True)]


def second_order_exact(
    objective: Objective, alpha: list[torch.Tensor], train_batch: Batch, val_batch: Batch, *,
    xi: float, momentum_buffers: Tensors, momentum: float, weight_decay: float,
    forward: Mapping[str, Any] | None = None, grad_clip: float | None = None,
    lean: bool = False,
) -> list[torch.Tensor]:
    """The same gradient with the mixed term computed exactly by double backward:

        grad^2_{alpha,w} L_train . v = grad_alpha < grad_w L_train(w, alpha), v >.

    The graph of grad_w L_train (needed for w' anyway) is kept and differentiated once more;
    with `grad_clip` the clip factor c is part of that graph, grad_alpha < c grad_w, v >.
    `lean` as in the module docstring (no autocast: the virtual step's graph is also the
    mixed term's).
    """
    w = _leaves(dict(objective.weights()), lean)
    buffers = scratch_buffers(objective.model) if lean else None
    train_loss = objective(w, alpha, train_batch, buffers, forward)
    grad_w = list(torch.autograd.grad(train_loss, list(w.values()), create_graph=True))
    if grad_clip is not None:
        grad_w = [clip_coefficient(grad_w, grad_clip) * g for g in grad_w]
    w_prime = unrolled_weights({n: t.detach() for n, t in w.items()},
                               {n: g.detach() for n, g in zip(w, grad_w, strict=True)},
                               momentum_buffers, xi, momentum, weight_decay, lean)
    g_val, v = _val_step_at_unrolled(objective, alpha, w_prime, val_batch, forward, buffers)
    inner = sum((g * v_i).sum() for g, v_i in zip(grad_w, v, strict=True))
    mixed = torch.autograd.grad(inner, alpha, allow_unused=True)
    return [g - xi * (torch.zeros_like(g) if m is None else m)
            for g, m in zip(g_val, mixed, strict=True)]
