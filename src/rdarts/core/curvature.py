"""Curvature of the validation loss w.r.t. the architecture: the paper's lambda_max.

RobustDARTS (Zela et al., ICLR 2020, Section 4.1 and Appendix C.2; spec section 5) tracks

    lambda_max = the algebraically largest eigenvalue of  H = nabla^2_alpha L_val(w, alpha)

at the current weights w (held fixed). A large lambda_max means a sharp minimum in alpha, after
which discretising alpha hurts; DARTS-ES and DARTS-ADA react to its growth.

The reference code builds the dense n x n Hessian with one double-backward pass per alpha entry.
Here lambda_max comes from Lanczos (`rdarts.core.lanczos`) on Hessian-vector products (about
10-20 of them, each one double-backward through a graph built once), and the dense Hessian
only when the whole spectrum is wanted (the paper's Figures 13/14).

Everything is generic over a loss closure ``alpha tensors -> scalar loss``; the supernet builds
the closures (one per validation batch, network in training mode as in the reference).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from typing import Literal

import torch

from rdarts.core.lanczos import EigenResult, lanczos_extremes

LossFn = Callable[[Sequence[torch.Tensor]], torch.Tensor]
"""A closure alpha tensors -> scalar validation loss, twice differentiable in alpha."""

HvpMethod = Literal["double_backward", "forward_over_reverse"]

__all__ = [
    "HessianOperator",
    "LossFn",
    "asymmetry",
    "dense_hessian",
    "dominant_entries",
    "flatten",
    "lambda_max",
    "lambda_max_per_batch",
    "spectrum",
    "top_by_magnitude",
    "unflatten",
]


def flatten(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate tensors into one flat vector, in order (alpha_normal then alpha_reduce)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vector: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Split a flat vector into views shaped like ``like`` (the inverse of :func:`flatten`)."""
    n = sum(t.numel() for t in like)
    if vector.shape != (n,):
        raise ValueError(
            f"expected a flat vector of {n} entries, found shape {tuple(vector.shape)}"
        )
    sizes = [t.numel() for t in like]
    return [p.view(t.shape) for p, t in zip(torch.split(vector, sizes), like, strict=True)]


def _zeros_if_unused(
    grads: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor], batch: tuple[int, ...] = ()
) -> list[torch.Tensor]:
    """Zeros for alpha tensors the loss does not depend on (autograd returns None for them)."""
    return [
        a.new_zeros(batch + a.shape) if grad is None else grad
        for grad, a in zip(grads, like, strict=True)
    ]


class HessianOperator:
    """The map v -> H v with H = (1/m) sum_i nabla^2_alpha L_i(alpha) + weight_decay * I.

    L_1..L_m are the loss closures, one per validation batch (spec 5: averaged over m batches);
    the optional shift is the alpha weight decay the reference code adds (1e-3 * I).

    ``hvp="double_backward"`` (default) runs every closure once, keeps the graph of
    g = nabla_alpha L (``create_graph=True``), and gets each product as the vector-Jacobian
    product H v = (dg/dalpha)^T v: one double-backward per product, no new forward. The closures
    therefore run exactly once per operator, so batch-norm running statistics are updated once
    and any randomness in a closure is drawn once, which keeps H a fixed symmetric matrix.
    ``hvp="forward_over_reverse"`` uses ``torch.func.jvp`` of ``torch.func.grad`` instead: no
    graph is kept, but every product re-runs forward and backward. On a small conv supernet
    on CPU (batch 32, n = 84) it took 5x longer for lambda_max, and it fails for closures that
    mutate buffers, e.g. batch-norm in training mode, which is how spec 5 measures lambda_max.

    ``products`` counts Hessian-vector products (a ``matmat`` with k columns counts k).
    Call :meth:`release` (or use the operator as a context manager) to free the graph; the next
    product rebuilds it.
    """

    def __init__(
        self,
        loss_fns: Sequence[LossFn],
        alpha: Sequence[torch.Tensor],
        weight_decay: float = 0.0,
        *,
        hvp: HvpMethod = "double_backward",
    ) -> None:
        if len(loss_fns) == 0:
            raise ValueError("expected at least one loss closure, found none")
        if len(alpha) == 0:
            raise ValueError("expected at least one alpha tensor, found none")
        if hvp not in ("double_backward", "forward_over_reverse"):
            raise ValueError(
                f"unknown hvp method {hvp!r}; known: 'double_backward', 'forward_over_reverse'"
            )
        self.loss_fns = list(loss_fns)
        # Private leaves: the caller's alpha keeps its .grad and may change while H is in use.
        self.alpha = [a.detach().clone().requires_grad_(True) for a in alpha]
        self.weight_decay = float(weight_decay)
        self.hvp = hvp
        self.n = sum(a.numel() for a in self.alpha)
        self.products = 0
        self._g: torch.Tensor | None = None  # flat mean gradient, with its graph
        self._vmap_ok = True

    # -- graph management -------------------------------------------------------------------
    def _gradient(self) -> torch.Tensor:
        """g = (1/m) sum_i nabla_alpha L_i, built once with create_graph=True."""
        if self._g is None:
            m = len(self.loss_fns)
            g = torch.zeros(self.n, dtype=self.alpha[0].dtype, device=self.alpha[0].device)
            for loss_fn in self.loss_fns:
                loss = loss_fn(self.alpha)
                grads = torch.autograd.grad(loss, self.alpha, create_graph=True, allow_unused=True)
                g = g + flatten(_zeros_if_unused(grads, self.alpha)) / m
            self._g = g
        return self._g

    def release(self) -> None:
        """Free the first-order graph (activations of every closure)."""
        self._g = None

    def __enter__(self) -> HessianOperator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- products ---------------------------------------------------------------------------
    def _alpha_flat(self) -> torch.Tensor:
        return flatten([a.detach() for a in self.alpha])

    def _f(self, alpha_flat: torch.Tensor) -> torch.Tensor:
        """(1/m) sum_i L_i(alpha), as a function of the flat alpha (for torch.func)."""
        like = unflatten(alpha_flat, self.alpha)
        return sum(loss_fn(like) for loss_fn in self.loss_fns) / len(self.loss_fns)

    def _hvp_columns(self, V: torch.Tensor) -> torch.Tensor:
        """H V for V of shape (n, k) in alpha's dtype and device, without the shift."""
        if self.hvp == "double_backward":
            return self._hvp_double_backward(V)
        return self._hvp_forward_over_reverse(V)

    def _hvp_double_backward(self, V: torch.Tensor) -> torch.Tensor:
        """H v = (dg/dalpha)^T v: a vector-Jacobian product through the kept graph of g."""
        g = self._gradient()
        if not g.requires_grad:  # loss linear in alpha
            return torch.zeros_like(V)

        def vjp(grad_outputs: torch.Tensor, batched: bool) -> list[torch.Tensor]:
            Hv = torch.autograd.grad(
                g,
                self.alpha,
                grad_outputs=grad_outputs,
                retain_graph=True,
                is_grads_batched=batched,
                allow_unused=True,
            )
            batch = (grad_outputs.shape[0],) if batched else ()
            return _zeros_if_unused(Hv, self.alpha, batch)

        k = V.shape[1]
        if k > 1 and self._vmap_ok:
            try:
                HV = vjp(V.T.contiguous(), batched=True)
                return torch.cat([h.reshape(k, -1) for h in HV], dim=1).T
            except RuntimeError:  # a backward formula without a batching rule: loop instead
                self._vmap_ok = False
        return torch.stack([flatten(vjp(v, batched=False)) for v in V.T], dim=1)

    def _hvp_forward_over_reverse(self, V: torch.Tensor) -> torch.Tensor:
        """H v = d/dt nabla f(alpha + t v) at t = 0: torch.func.jvp of torch.func.grad."""
        alpha_flat = self._alpha_flat()

        def hvp(v: torch.Tensor) -> torch.Tensor:
            return torch.func.jvp(torch.func.grad(self._f), (alpha_flat,), (v,))[1]

        # no_grad: no autograd graph w.r.t. the weights (torch.func.grad ignores an outer no_grad)
        with torch.no_grad():
            if V.shape[1] > 1 and self._vmap_ok:
                try:
                    return torch.func.vmap(hvp, in_dims=1, out_dims=1)(V)
                except RuntimeError:  # randomness inside the closure: loop instead
                    self._vmap_ok = False
            return torch.stack([hvp(v) for v in V.T], dim=1)

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """H V for V of shape (n, k); the result has V's dtype and device."""
        if V.ndim != 2 or V.shape[0] != self.n:
            raise ValueError(f"expected V of shape ({self.n}, k), found {tuple(V.shape)}")
        a = self.alpha[0]
        HV = self._hvp_columns(V.to(dtype=a.dtype, device=a.device)).to(V.dtype).to(V.device)
        self.products += V.shape[1]
        if self.weight_decay:
            HV = HV + self.weight_decay * V
        return HV

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """H v for a flat v of shape (n,); the result has v's dtype and device."""
        if v.shape != (self.n,):
            raise ValueError(f"expected v of shape ({self.n},), found {tuple(v.shape)}")
        return self.matmat(v[:, None])[:, 0]


def asymmetry(hessian: torch.Tensor) -> float:
    """max |H - H^T| / max |H|: zero up to round-off for a true Hessian."""
    scale = float(hessian.abs().max())
    return float((hessian - hessian.T).abs().max()) / scale if scale > 0 else 0.0


def dense_hessian(
    op: HessianOperator, chunk: int | None = 1, *, symmetrize: bool = True
) -> torch.Tensor:
    """The dense n x n matrix of ``op`` in float64, from ``op.matmat`` on the identity.

    Column j is H e_j; ``chunk`` columns go through one (batched) product call, all n if None.
    One column at a time is the default: on a 2-core CPU, S3 supernet (n = 84), batched
    products took 74.6 s against 32.5 s for single ones (benchmarks/curvature.py).
    With ``symmetrize`` the result is (H + H^T) / 2, and a warning is raised if the raw matrix
    was asymmetric beyond round-off (a closure that is not a fixed function of alpha).
    Use ``symmetrize=False`` and :func:`asymmetry` to report the raw asymmetry.
    """
    n = op.n
    chunk = n if chunk is None else chunk
    if chunk < 1:
        raise ValueError(f"expected chunk >= 1, found {chunk}")
    eye = torch.eye(n, dtype=torch.float64)
    H = torch.cat([op.matmat(eye[:, i : i + chunk]) for i in range(0, n, chunk)], dim=1)
    if not symmetrize:
        return H
    skew = asymmetry(H)
    if skew > 1e-3:
        warnings.warn(
            f"the Hessian is asymmetric: max|H - H^T| / max|H| = {skew:.2e} (expected round-off, "
            "below 1e-3); is the loss closure a fixed function of alpha?",
            RuntimeWarning,
            stacklevel=2,
        )
    return (H + H.T) / 2


def spectrum(hessian: torch.Tensor) -> torch.Tensor:
    """All eigenvalues of a symmetric matrix, sorted algebraically descending."""
    if hessian.ndim != 2 or hessian.shape[0] != hessian.shape[1]:
        raise ValueError(f"expected a square matrix, found shape {tuple(hessian.shape)}")
    return torch.linalg.eigvalsh(hessian).flip(0)


def top_by_magnitude(eigenvalues: torch.Tensor, k: int = 30) -> torch.Tensor:
    """The k eigenvalues of largest |lambda|, signs kept, by descending magnitude.

    The paper's Figures 13/14 plot the 30 largest eigenvalues by magnitude.
    """
    order = eigenvalues.abs().argsort(descending=True, stable=True)
    return eigenvalues[order[:k]]


def dominant_entries(
    eigenvector: torch.Tensor, names: Sequence[str], k: int = 5
) -> list[tuple[str, float]]:
    """The k alpha entries with the largest |component| of the eigenvector, largest first.

    `names` label the flat entries, e.g. `rdarts.core.alpha.alpha_entry_names(space)`.
    """
    v = eigenvector.detach().reshape(-1).cpu()
    if v.numel() != len(names):
        raise ValueError(f"expected {v.numel()} names (one per alpha entry), found {len(names)}")
    order = v.abs().argsort(descending=True, stable=True)[:k]
    return [(names[i], float(v[i])) for i in order.tolist()]


def lambda_max(
    loss_fns: Sequence[LossFn],
    alpha: Sequence[torch.Tensor],
    *,
    weight_decay: float = 0.0,
    init: torch.Tensor | None = None,
    max_iter: int = 30,
    tol: float = 2e-3,
    hvp: HvpMethod = "double_backward",
    generator: torch.Generator | None = None,
) -> EigenResult:
    """lambda_max of nabla^2_alpha L_val averaged over ``loss_fns`` (+ weight_decay * I).

    Paper Section 4.1 / Appendix C.2, spec 5: one forward and backward per closure, then one
    double-backward per Lanczos step. ``seconds`` includes the forward and backward passes.
    """
    start = time.perf_counter()
    with HessianOperator(loss_fns, alpha, weight_decay, hvp=hvp) as op:
        result = lanczos_extremes(
            op.matvec, op.n, max_iter=max_iter, tol=tol, init=init, generator=generator
        )
    return EigenResult(
        lambda_max=result.lambda_max,
        lambda_min=result.lambda_min,
        eigenvector=result.eigenvector,
        products=op.products,
        seconds=time.perf_counter() - start,
        residual=result.residual,
        converged=result.converged,
        error_estimate=result.error_estimate,
    )


def lambda_max_per_batch(
    loss_fns: Sequence[LossFn],
    alpha: Sequence[torch.Tensor],
    *,
    weight_decay: float = 0.0,
    max_iter: int = 30,
    tol: float = 2e-3,
    hvp: HvpMethod = "double_backward",
) -> list[float]:
    """lambda_max of each closure on its own, to show how noisy the one-batch signal is."""
    return [
        lambda_max(
            [loss_fn], alpha, weight_decay=weight_decay, max_iter=max_iter, tol=tol, hvp=hvp
        ).lambda_max
        for loss_fn in loss_fns
    ]
