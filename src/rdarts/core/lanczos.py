"""Lanczos for the extreme eigenvalues of a symmetric operator known only by its products.

lambda_max (see `curvature`) is needed every few epochs from an operator whose products each
cost a double-backward pass, so the solver is built to spend few of them: a fully
reorthogonalised Krylov basis, a stopping rule on the estimated eigenvalue error rather than on
the residual alone, and a warm start from the previous eigenvector. It knows nothing about
Hessians or autograd: it takes `matvec` and `n`, which keeps it testable on explicit matrices.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

__all__ = [
    "EigenResult",
    "lanczos_extremes",
]


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
