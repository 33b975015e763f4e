"""`gradient_check_every`: the finite-difference hypergradient against the exact one along a
search, logged per epoch without changing the search."""

from __future__ import annotations

import pytest
import torch

from rdarts.core import hypergradient
from rdarts.errors import ConfigError
from rdarts.runs.rundir import RunDir
from rdarts.search.config import resolve
from rdarts.search.gradcheck import RADII, hypergradient_agreement
from rdarts.search.loop import build_search
from rdarts.search.probe import probe_batches
from rdarts.search.task import run_search

TINY = {"space": "s3", "nodes": 2, "layers": 3, "channels": 4, "batch_size": 16,
        "max_train_images": 64, "epochs": 2, "val_batches": 1, "device": "cpu"}
TRAJECTORY = ("train_loss", "val_loss", "val_accuracy", "lambda_max", "alpha_softmax",
              "genotype")


def test_the_check_is_logged_and_leaves_the_search_unchanged(tmp_path):
    plain = run_search(resolve(overrides=TINY), tmp_path / "plain", quiet=True)
    checked = run_search(resolve(overrides={**TINY, "gradient_check_every": 1}),
                         tmp_path / "checked", quiet=True)
    assert plain.genotype == checked.genotype
    for a, b in zip(RunDir(tmp_path / "plain").read_metrics(),
                    RunDir(tmp_path / "checked").read_metrics(), strict=True):
        assert {k: a[k] for k in TRAJECTORY} == {k: b[k] for k in TRAJECTORY}
        assert "hypergradient_check" not in a
        check = b["hypergradient_check"]
        assert check["r"] == list(RADII) and check["exact_norm"] > 0
        assert all(d >= 0 for d in check["relative_difference"])
        assert all(-1 - 1e-9 <= c <= 1 + 1e-9 for c in check["cosine"])


def test_the_logged_difference_is_that_of_the_two_hypergradients():
    """Recompute both hypergradients directly on the same probe batches and compare."""
    search = build_search(resolve(overrides={**TINY, "second_order": "exact"}))
    search.train_epoch()  # momentum buffers and a non-trivial state
    check = hypergradient_agreement(search)
    plan = search.plan()
    train_batch, val_batch = probe_batches(search, 2)
    alpha = search.architecture.parameters_list()
    common = {"xi": plan.lr, "momentum_buffers": search._momentum_buffers(),
              "momentum": search.config.momentum, "weight_decay": search.weight_decay(),
              "forward": plan.forward}
    exact = torch.cat([g.flatten() for g in hypergradient.second_order_exact(
        search.objective, alpha, train_batch, val_batch, **common)]).double()
    for r, relative, cosine in zip(check["r"], check["relative_difference"], check["cosine"],
                                   strict=True):
        fd = torch.cat([g.flatten() for g in hypergradient.second_order_finite_difference(
            search.objective, alpha, train_batch, val_batch, r=r, **common)]).double()
        assert relative == pytest.approx(float((fd - exact).norm() / exact.norm()), rel=1e-3)
        assert cosine == pytest.approx(float(fd @ exact / (fd.norm() * exact.norm())),
                                       abs=1e-4)
    assert check["exact_norm"] == pytest.approx(float(exact.norm()), rel=1e-5)


def test_a_negative_period_is_refused():
    with pytest.raises(ConfigError, match="gradient_check_every"):
        build_search(resolve(overrides={**TINY, "gradient_check_every": -1}))


def test_the_report_draws_the_check_over_the_epochs(tmp_path):
    from rdarts.report.build import build_report
    from rdarts.report.collect import find_runs
    from rdarts.report.figures import gradient_check_series

    run_search(resolve(overrides={**TINY, "gradient_check_every": 1}), tmp_path / "run",
               quiet=True)
    result = build_report([tmp_path / "run"], tmp_path / "report")
    assert str(tmp_path / "report" / "gradient_check.png") in result["figures"]
    [run] = find_runs([tmp_path / "run"]).searches
    logged = [r["hypergradient_check"] for r in RunDir(tmp_path / "run").read_metrics()]
    series = gradient_check_series(run)
    assert sorted(series) == sorted(RADII)
    for index, r in enumerate(RADII):
        assert series[r] == {e: c["relative_difference"][index] for e, c in enumerate(logged)}
