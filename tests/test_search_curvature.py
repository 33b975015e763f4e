"""lambda_max during search and offline, checked against an independent dense Hessian."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from rdarts.cli.app import main
from rdarts.core.alpha import edge_weights
from rdarts.core.objective import scratch_buffers
from rdarts.runs.rundir import RunDir
from rdarts.search.config import resolve
from rdarts.search.loop import build_search
from rdarts.search.task import run_search

TINY = {"space": "s3", "nodes": 2, "layers": 3, "channels": 4, "batch_size": 16,
        "max_train_images": 64, "epochs": 2, "val_batches": 1, "device": "cpu"}


def _independent_dense_hessian(search, batch) -> np.ndarray:
    """torch.autograd.functional.hessian of L_val on the flat alpha, BN in training mode."""
    shapes = [a.shape for a in search.architecture.parameters_list()]
    params = {name: p.detach() for name, p in search.supernet.named_parameters()}

    def loss(flat: torch.Tensor) -> torch.Tensor:
        alpha, offset = [], 0
        for shape in shapes:
            alpha.append(flat[offset: offset + shape.numel()].reshape(shape))
            offset += shape.numel()
        state = {**scratch_buffers(search.supernet), **params}
        logits = functional_call(search.supernet, state,
                                 (batch.inputs[0], edge_weights(alpha, search.space.cell_types)))
        return F.cross_entropy(logits, batch.targets)

    flat = torch.cat([a.detach().flatten() for a in search.architecture.parameters_list()])
    return torch.autograd.functional.hessian(loss, flat).double().numpy()


def _trained_search(**changes):
    search = build_search(resolve(overrides={**TINY, **changes}))
    search.train_epoch()
    return search


def test_lambda_max_equals_largest_eigenvalue_of_an_independent_dense_hessian():
    search = _trained_search()
    record = search.measure_curvature()
    hessian = _independent_dense_hessian(search, search.curvature_batches(1)[0])
    eigenvalues = np.linalg.eigvalsh((hessian + hessian.T) / 2)
    assert record["lambda_max"] == pytest.approx(eigenvalues[-1], rel=1e-2)
    assert record["hessian_products"] < search.space.num_alpha  # cheaper than dense


def test_dense_spectrum_equals_the_independent_one():
    search = _trained_search()
    record = search.measure_curvature(with_spectrum=True)
    hessian = _independent_dense_hessian(search, search.curvature_batches(1)[0])
    expected = np.sort(np.linalg.eigvalsh((hessian + hessian.T) / 2))[::-1]
    np.testing.assert_allclose(record["spectrum"], expected, atol=1e-4 * np.abs(expected).max())
    assert record["lambda_max_dense"] == pytest.approx(record["lambda_max"], rel=1e-2)
    assert len(record["top30_by_magnitude"]) == 30


def test_shift_adds_the_alpha_weight_decay():
    plain = _trained_search().measure_curvature()
    shifted = _trained_search(hessian_shift=True).measure_curvature()
    assert shifted["lambda_max"] == pytest.approx(plain["lambda_max"] + 1e-3, rel=1e-3, abs=1e-5)


def test_several_batches_report_their_spread():
    record = _trained_search(hessian_batches=3).measure_curvature()
    assert len(record["lambda_max_per_batch"]) == 3 and record["lambda_max_std"] >= 0
    assert len(record["lambda_max_dominant"]) == 5


def test_measuring_curvature_does_not_change_the_search(tmp_path):
    config = {**TINY, "space": "s4"}  # the noise op draws from the global RNG
    with_hessian = run_search(resolve(overrides={**config, "hessian_every": 1}),
                              tmp_path / "a", quiet=True)
    without = run_search(resolve(overrides={**config, "hessian_every": 0}),
                         tmp_path / "b", quiet=True)
    assert with_hessian.genotype == without.genotype
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["architecture"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["architecture"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    records = RunDir(tmp_path / "a").read_metrics()
    assert all("lambda_max" in r for r in records)
    assert all("lambda_max" not in r for r in RunDir(tmp_path / "b").read_metrics())


def test_offline_hessian_command_reproduces_the_logged_value(tmp_path, capsys):
    run = tmp_path / "run"
    run_search(resolve(overrides={**TINY, "save_every": 1}), run, quiet=True)
    logged = RunDir(run).read_metrics()
    assert main(["hessian", str(run), "--epoch", "0", "--spectrum"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["epoch"] == 0
    assert record["lambda_max"] == pytest.approx(logged[0]["lambda_max"], rel=1e-2)
    assert len(record["spectrum"]) == 2 * 5 * 3
    assert (run / "hessian" / "epoch-0000.json").exists()
    assert main(["hessian", str(run)]) == 0  # latest checkpoint
    assert json.loads(capsys.readouterr().out)["epoch"] == 1


def test_offline_hessian_for_an_epoch_that_was_not_saved(tmp_path, capsys):
    run = tmp_path / "run"
    run_search(resolve(overrides={**TINY, "epochs": 1}), run, quiet=True)
    assert main(["hessian", str(run), "--epoch", "0"]) == 2
    assert "saved epochs: none" in capsys.readouterr().err
    assert main(["hessian", str(tmp_path / "nothing")]) == 2
