"""lambda_max on the language domain: a fixed function of alpha (initial hidden state fixed and
detached, dropout masks frozen, BN in train mode on scratch buffers), against a dense Hessian
from torch.autograd.functional.hessian and numpy's eigvalsh."""

from __future__ import annotations

import numpy as np
import torch
from language_tiny import tiny_search


def _searched():
    search = tiny_search(dropout=0.3, dropouth=0.2, dropoutx=0.3, dropouti=0.1, dropoute=0.1,
                         hidden_size=5, epochs=1)
    search.train_epoch()  # the alpha stream carries a non-zero hidden state now
    return search


def test_probe_batches_freeze_masks_and_a_detached_hidden_state():
    search = _searched()
    first, again = search.curvature_batches(1), search.curvature_batches(1)
    batch = first[0]
    _, hidden = batch.inputs
    assert not hidden.requires_grad and torch.count_nonzero(hidden) > 0
    assert torch.equal(hidden, search.data.val.hidden)
    assert torch.equal(batch.options["masks"].hidden, again[0].options["masks"].hidden)
    params = {n: p.detach() for n, p in search.supernet.named_parameters()}
    alpha = [a.detach() for a in search.architecture.parameters_list()]
    search.supernet.train()
    losses = [search.objective(params, alpha, batch) for _ in range(2)]
    assert torch.equal(losses[0], losses[1])  # dropout on, yet the same function of alpha


def test_lambda_max_equals_the_dense_hessian_and_leaves_bn_untouched():
    search = _searched()
    buffers = {k: v.clone() for k, v in search.supernet.named_buffers()}
    rng = torch.get_rng_state()
    record = search.measure_curvature(with_spectrum=True)
    assert torch.equal(rng, torch.get_rng_state())
    for name, value in search.supernet.named_buffers():
        assert torch.equal(value, buffers[name]), name

    batch = search.curvature_batches(1)[0]
    params = {n: p.detach() for n, p in search.supernet.named_parameters()}
    search.supernet.train()
    alpha = search.architecture.parameters_list()[0].detach()
    hessian = torch.autograd.functional.hessian(
        lambda a: search.objective(params, [a], batch), alpha, vectorize=True)
    dense = hessian.reshape(alpha.numel(), alpha.numel()).double().numpy()
    eigenvalues = np.linalg.eigvalsh((dense + dense.T) / 2)
    assert abs(record["lambda_max"] - eigenvalues[-1]) <= 0.01 * abs(eigenvalues[-1])
    assert abs(record["lambda_max_dense"] - eigenvalues[-1]) <= 0.01 * abs(eigenvalues[-1])
    # softmax rows are shift invariant: one zero eigenvalue per row of alpha (36 here)
    assert np.sum(np.abs(eigenvalues) < 1e-6 * np.abs(eigenvalues).max()) >= 36
