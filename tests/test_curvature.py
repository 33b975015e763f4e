"""Curvature (spec 5): Hessian-vector products, Lanczos lambda_max, dense Hessian, spectrum.

Every check compares against an independent computation: torch.autograd.functional.hessian
on the flat alpha, numpy.linalg.eigvalsh, or a quadratic whose Hessian is known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from rdarts.core.curvature import (
    HessianOperator,
    asymmetry,
    dense_hessian,
    dominant_entries,
    lambda_max,
    lambda_max_per_batch,
    spectrum,
    top_by_magnitude,
)
from rdarts.core.lanczos import lanczos_extremes

WIDTH = 6


class MixedEdge(nn.Module):
    """A DARTS edge: sum_o softmax(alpha_e)[o] * op_o(x), ops linear+BN, tanh, skip."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.BatchNorm1d(WIDTH, affine=False))
        self.tanh = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.Tanh())

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return weights[0] * self.linear(x) + weights[1] * self.tanh(x) + weights[2] * x


class TinySupernet(nn.Module):
    """Two 'cells' of three chained mixed edges each: alpha_normal (3, 3), alpha_reduce (3, 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells = nn.ModuleList(nn.ModuleList(MixedEdge() for _ in range(3)) for _ in range(2))
        self.head = nn.Linear(WIDTH, 3)

    def forward(self, x: torch.Tensor, alpha: list[torch.Tensor]) -> torch.Tensor:
        for edges, alpha_cell in zip(self.cells, alpha, strict=True):
            for edge, alpha_edge in zip(edges, alpha_cell, strict=True):
                x = edge(x, F.softmax(alpha_edge, dim=-1))
        return self.head(x)


@pytest.fixture(scope="module")
def setup() -> dict:
    torch.manual_seed(0)
    net = TinySupernet().double().train()  # batch-stat BN, as the reference measures it
    alpha = [torch.randn(3, 3, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)]
    batches = [
        (torch.randn(16, WIDTH, dtype=torch.float64), torch.randint(0, 3, (16,))) for _ in range(2)
    ]
    loss_fns = [lambda a, x=x, y=y: F.cross_entropy(net(x, list(a)), y) for x, y in batches]

    def reference(loss_fn) -> np.ndarray:  # independent: autograd's Hessian on the flat alpha
        def f(alpha_flat: torch.Tensor) -> torch.Tensor:
            return loss_fn([alpha_flat[:9].view(3, 3), alpha_flat[9:].view(3, 3)])

        flat = torch.cat([alpha[0].reshape(-1), alpha[1].reshape(-1)])
        return torch.autograd.functional.hessian(f, flat).numpy()

    return {"alpha": alpha, "loss_fns": loss_fns, "H": [reference(f) for f in loss_fns]}


def quadratic(eigenvalues: list[float], seed: int = 0):
    """0.5 a^T A a with A = U diag(eigenvalues) U^T, U a random orthogonal matrix."""
    n = len(eigenvalues)
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = torch.from_numpy(U @ np.diag(eigenvalues) @ U.T)
    alpha = [torch.zeros(n // 2, dtype=torch.float64), torch.zeros(n - n // 2, dtype=torch.float64)]

    def loss_fn(a):
        flat = torch.cat(list(a))
        return 0.5 * flat @ A @ flat

    return loss_fn, alpha, A, U


@pytest.mark.parametrize("chunk", [None, 1])
def test_dense_hessian_matches_autograd_hessian(setup, chunk):
    op = HessianOperator(setup["loss_fns"][:1], setup["alpha"])
    raw = dense_hessian(op, chunk=chunk, symmetrize=False)
    assert asymmetry(raw) < 1e-10
    H = dense_hessian(op, chunk=chunk)
    np.testing.assert_allclose(H.numpy(), setup["H"][0], atol=1e-10)
    assert torch.equal(H, H.T)
    assert op.products == 2 * 18


def test_lanczos_matches_eigvalsh(setup):
    eigenvalues, eigenvectors = np.linalg.eigh(setup["H"][0])
    result = lambda_max(setup["loss_fns"][:1], setup["alpha"])
    assert result.lambda_max == pytest.approx(eigenvalues[-1], rel=1e-2)
    tight = lambda_max(setup["loss_fns"][:1], setup["alpha"], tol=1e-8)
    assert tight.lambda_max == pytest.approx(eigenvalues[-1], rel=1e-6)  # converges further
    # The default stops once the residual is below 1% of lambda_max.
    assert result.converged and result.residual < 1e-2 * result.lambda_max
    assert result.products < 18
    assert abs(float(tight.eigenvector.numpy() @ eigenvectors[:, -1])) > 0.999

    op = HessianOperator(setup["loss_fns"][:1], setup["alpha"])
    both = lanczos_extremes(op.matvec, op.n, converge_min=True)
    assert both.lambda_min == pytest.approx(eigenvalues[0], rel=1e-2)


def test_batched_products_fall_back_to_a_loop(setup, monkeypatch):
    grad = torch.autograd.grad

    def grad_without_batching(*args, is_grads_batched=False, **kwargs):
        if is_grads_batched:
            raise RuntimeError("no batching rule")
        return grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", grad_without_batching)
    H = dense_hessian(HessianOperator(setup["loss_fns"][:1], setup["alpha"]))
    np.testing.assert_allclose(H.numpy(), setup["H"][0], atol=1e-10)


def test_lambda_max_is_algebraic_not_magnitude():
    # the largest-magnitude eigenvalue is -5: power iteration would return it
    loss_fn, alpha, _, _ = quadratic([-5.0, *np.linspace(-4.0, 0.5, 38).tolist(), 1.0])
    result = lambda_max([loss_fn], alpha, tol=1e-6, max_iter=40)
    assert result.lambda_max == pytest.approx(1.0, abs=1e-6)
    assert result.products < 40  # converged, not merely a full Krylov basis
    assert result.error_estimate < 1e-6


def test_weight_decay_shifts_every_eigenvalue():
    loss_fn, alpha, A, _ = quadratic([3.0, -1.0, 0.5, 0.25, 2.0, -0.5])
    wd = 1e-3
    shifted = spectrum(dense_hessian(HessianOperator([loss_fn], alpha, weight_decay=wd)))
    expected = np.sort(np.linalg.eigvalsh(A.numpy()))[::-1] + wd
    np.testing.assert_allclose(shifted.numpy(), expected, atol=1e-12)
    result = lambda_max([loss_fn], alpha, weight_decay=wd, tol=1e-8)
    assert result.lambda_max == pytest.approx(3.0 + wd, abs=1e-9)


def test_average_over_closures_is_mean_hessian(setup):
    op = HessianOperator(setup["loss_fns"], setup["alpha"])
    H = dense_hessian(op)
    np.testing.assert_allclose(H.numpy(), (setup["H"][0] + setup["H"][1]) / 2, atol=1e-10)

    per_batch = lambda_max_per_batch(setup["loss_fns"], setup["alpha"], tol=1e-8)
    expected = [np.linalg.eigvalsh(H_i)[-1] for H_i in setup["H"]]
    np.testing.assert_allclose(per_batch, expected, rtol=1e-6)


def test_warm_start_needs_fewer_products():
    eigenvalues = [*np.linspace(-2.0, 1.0, 40).tolist(), 1.2]
    loss_fn, alpha, _, U = quadratic(eigenvalues)
    op = HessianOperator([loss_fn], alpha)
    cold = lanczos_extremes(op.matvec, op.n, tol=1e-6, max_iter=41)
    top = torch.from_numpy(U[:, -1].copy())
    warm = lanczos_extremes(op.matvec, op.n, tol=1e-6, max_iter=41, init=top)
    assert cold.lambda_max == pytest.approx(1.2, abs=1e-6)
    assert warm.lambda_max == pytest.approx(1.2, abs=1e-6)
    assert warm.products < cold.products


def test_forward_over_reverse_matches_autograd_hessian(setup):
    # torch.func cannot run batch-norm in training mode (it updates buffers in place)
    loss_fn, alpha, A, _ = quadratic([2.0, -1.0, 0.5, 0.3])
    H = dense_hessian(HessianOperator([loss_fn], alpha, hvp="forward_over_reverse"))
    np.testing.assert_allclose(H.numpy(), A.numpy(), atol=1e-12)


def test_alpha_and_global_rng_untouched(setup):
    alpha = [a.clone().requires_grad_(True) for a in setup["alpha"]]
    rng_state = torch.get_rng_state()
    first = lambda_max(setup["loss_fns"][:1], alpha)
    assert all(a.grad is None for a in alpha)
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert lambda_max(setup["loss_fns"][:1], alpha).lambda_max == first.lambda_max


def test_float32_alpha_within_one_percent(setup):
    alpha32 = [a.float() for a in setup["alpha"]]
    net_fn = setup["loss_fns"][0]
    result = lambda_max([lambda a: net_fn([t.double() for t in a]).float()], alpha32)
    assert result.lambda_max == pytest.approx(np.linalg.eigvalsh(setup["H"][0])[-1], rel=1e-2)


def test_spectrum_and_top_by_magnitude():
    eigenvalues = spectrum(torch.diag(torch.tensor([1.0, -5.0, 3.0, -0.5])))
    assert eigenvalues.tolist() == [3.0, 1.0, -0.5, -5.0]
    assert top_by_magnitude(eigenvalues, k=2).tolist() == [-5.0, 3.0]
    assert top_by_magnitude(eigenvalues, k=30).tolist() == [-5.0, 3.0, 1.0, -0.5]


def test_dominant_entries_ordering():
    names = [
        "normal/edge0/skip",
        "normal/edge0/conv",
        "reduce/edge0/skip",
        "reduce/edge0/pool",
        "reduce/edge1/conv",
    ]
    eigenvector = torch.tensor([0.1, -0.9, 0.3, 0.0, -0.4])
    assert dominant_entries(eigenvector, names, k=3) == [
        ("normal/edge0/conv", pytest.approx(-0.9)),
        ("reduce/edge1/conv", pytest.approx(-0.4)),
        ("reduce/edge0/skip", pytest.approx(0.3)),
    ]
    with pytest.raises(ValueError, match="expected 5 names"):
        dominant_entries(eigenvector, names[:4])
