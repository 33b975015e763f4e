"""Curvature of the validation loss w.r.t. the architecture: the paper's lambda_max.

RobustDARTS (Zela et al., ICLR 2020, Section 4.1 and Appendix C.2; spec section 5) tracks

    lambda_max = the algebraically largest eigenvalue of  H = nabla^2_alpha L_val(w, alpha)

at the current weights w (held fixed). A large lambda_max means a sharp minimum in alpha, after
which discretising alpha hurts; DARTS-ES and DARTS-ADA react to its growth.

The reference code builds the dense n x n Hessian with one double-backward pass per alpha entry.
Here lambda_max comes from Lanczos on Hessian-vector products (about 10-20 of them, each one
double-backward through a graph built once), and the dense Hessian only when the whole spectrum
is wanted (the paper's Figures 13/14).

Everything is generic over a loss closure ``alpha tensors -> scalar loss``; the supernet builds
the closures (one per validation batch, network in training mode as in the reference).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

LossFn = Callable[[Sequence[torch.Tensor]], torch.Tensor]
"""A closure alpha tensors -> scalar validation loss, twice differentiable in alpha."""

HvpMethod = Literal["double_backward", "forward_over_reverse"]

__all__ = [
    "EigenResult",
    "HessianOperator",
    "LossFn",
    "asymmetry",
    "dense_hessian",
    "dominant_entries",
    "flatten",
    "lambda_max",
    "lambda_max_per_batch",
    "lanczos_extremes",
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


@dataclass(frozen=True)
class EigenResult:
    """Extreme eigenpairs of H from Lanczos.

    ``residual`` = ||H v - lambda_max v|| with H v from the stored products (not from the
    recurrence), the honest convergence measure; ``converged`` says whether the stopping rule
    was met before the iteration limit. ``lambda_min`` is the smallest Ritz value: exact when
    Lanczos ran n steps or was asked to converge it, otherwise an upper bound on the true one.
    """

    lambda_max: float
    lambda_min: float
    eigenvector: torch.Tensor
    products: int
    seconds: float
    residual: float
    converged: bool
    error_estimate: float = float("nan")  # estimated |lambda_max - true|: min(r, r^2 / gap)


def _ritz_error(residual: float, theta: np.ndarray, top: bool) -> float:
    """Estimated |lambda - theta| of an extreme Ritz value: min(r, r^2 / gap).

    A residual r leaves an eigenvalue within r of theta (Kahan); with the rest of the spectrum
    at distance delta, the error is at most r^2 / delta (Kato-Temple; Saad, *Numerical Methods
    for Large Eigenvalue Problems*, Section 3.2). delta is estimated by the gap to the next
    Ritz value. On an S3 supernet Hessian (n = 84) the estimate tracked the true error within
    a factor 1.3 at every step (benchmarks/curvature.py, setting a).
    """
    if len(theta) < 2:
        return residual
    gap = float(theta[-1] - theta[-2]) if top else float(theta[1] - theta[0])
    return min(residual, residual**2 / gap) if gap > 0 else residual


def lanczos_extremes(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    *,
    max_iter: int = 30,
    tol: float = 2e-3,
    init: torch.Tensor | None = None,
    init_noise: float = 1e-3,
    converge_min: bool = False,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> EigenResult:
    """Algebraically largest (and smallest) eigenvalue of a symmetric operator by Lanczos.

    Builds an orthonormal Krylov basis Q_k = [q_1..q_k] of span{q_1, H q_1, ..., H^{k-1} q_1}
    with the three-term recurrence beta_j q_{j+1} = H q_j - a_j q_j - beta_{j-1} q_{j-1}, fully
    reorthogonalised against Q (n is small, so this costs nothing next to one product and keeps
    the basis orthogonal). The Ritz values theta of the tridiagonal T_k = Q_k^T H Q_k approximate
    the extreme eigenvalues; the top pair (theta, y = Q_k s) has residual
    ||H y - theta y|| = r = beta_k |s_k|. Stops when the estimated error min(r, r^2 / gap)
    is below tol * |theta| (the default 2e-3 keeps lambda_max well within 1%; for the
    bottom pair too if ``converge_min``), on breakdown (beta_k ~ 0: Q_k spans an invariant
    subspace, theta is exact), or after min(max_iter, n) products.

    Unlike power iteration, which finds the eigenvalue of largest *magnitude* (often negative
    for the DARTS Hessian, spec 5), this returns the algebraically largest one.

    ``matvec`` gets and returns vectors of ``dtype`` on the CPU. ``init`` (for instance the
    previous epoch's eigenvector) is a warm start; a random component of relative size
    ``init_noise`` is added so an exact eigenvector of some other operator does not end the
    iteration at once. The start uses ``generator`` (default: a fresh one seeded with 0), never
    the global RNG, so measuring curvature does not change the search's random stream.
    """
    if n < 1:
        raise ValueError(f"expected an operator of size n >= 1, found n={n}")
    if max_iter < 1:
        raise ValueError(f"expected max_iter >= 1, found {max_iter}")
    start = time.perf_counter()
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    noise = torch.randn(n, generator=generator, dtype=dtype)
    if init is None:
        q = noise
    else:
        if init.numel() != n:
            raise ValueError(f"expected init with {n} entries, found {init.numel()}")
        q = init.detach().reshape(-1).to(device="cpu", dtype=dtype)
        q = q / q.norm() + init_noise * noise / noise.norm()
    q = q / q.norm()

    steps = min(max_iter, n)
    Q = torch.zeros(n, steps, dtype=dtype)  # Lanczos basis q_1..q_k
    HQ = torch.zeros(n, steps, dtype=dtype)  # the products H q_j, kept for the true residual
    a: list[float] = []  # diagonal of T
    beta: list[float] = []  # off-diagonal of T
    breakdown = 1e3 * torch.finfo(dtype).eps
    converged = False
    k = 0
    for j in range(steps):
        k = j + 1
        Q[:, j] = q
        w = matvec(q).to(dtype)
        HQ[:, j] = w
        a.append(float(q @ w))
        r = w - a[j] * q
        if j > 0:
            r = r - beta[j - 1] * Q[:, j - 1]
        for _ in range(2):  # full reorthogonalisation, twice ("twice is enough")
            r = r - Q[:, :k] @ (Q[:, :k].T @ r)
        beta_k = float(r.norm())

        theta, S = eigh_tridiagonal(np.array(a), np.array(beta))
        scale = max(1.0, float(np.abs(theta).max()))
        # Error estimates relative to the eigenvalue itself (floored at 1e-3 ||H|| so that a
        # lambda_max near 0 still converges).
        floor = 1e-3 * float(np.abs(theta).max())
        top_error = _ritz_error(beta_k * abs(S[-1, -1]), theta, top=True)
        bottom_error = _ritz_error(beta_k * abs(S[-1, 0]), theta, top=False)
        top_ok = top_error < tol * max(abs(theta[-1]), floor)
        bottom_ok = bottom_error < tol * max(abs(theta[0]), floor)
        if top_ok and (bottom_ok or not converge_min):
            converged = True
            break
        if beta_k < breakdown * scale:  # invariant subspace: T's eigenvalues are exact
            converged = True
            break
        if j + 1 < steps:
            beta.append(beta_k)
            q = r / beta_k
    if k == n:
        converged = True  # a full basis: T is similar to H

    s = torch.from_numpy(S[:, -1]).to(dtype)
    eigenvector = Q[:, :k] @ s
    H_eigenvector = HQ[:, :k] @ s
    norm = eigenvector.norm()
    eigenvector, H_eigenvector = eigenvector / norm, H_eigenvector / norm
    if eigenvector[eigenvector.abs().argmax()] < 0:  # fix the sign for reproducible reports
        eigenvector, H_eigenvector = -eigenvector, -H_eigenvector
    lambda_top = float(theta[-1])
    residual = float((H_eigenvector - lambda_top * eigenvector).norm())
    error_estimate = 0.0 if k == n else _ritz_error(residual, theta, top=True)
    return EigenResult(
        lambda_max=lambda_top,
        lambda_min=float(theta[0]),
        eigenvector=eigenvector,
        products=k,
        seconds=time.perf_counter() - start,
        residual=residual,
        converged=converged,
        error_estimate=error_estimate,
    )


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

    `names` label the flat entries, e.g. `rdarts.supernet.alpha_entry_names(space)`.
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
