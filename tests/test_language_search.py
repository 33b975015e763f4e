"""The bilevel search on the language domain: streams carrying the hidden state, BPTT jitter
and lr scaling, TAR only in the weight step, the clipped virtual step against autograd on a
tiny RNN, exact resume (also after SIGKILL through the command line)."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from language_tiny import tiny_config, tiny_search

from rdarts.core import hypergradient
from rdarts.domains.base import Batch
from rdarts.domains.language.stream import window_lengths
from rdarts.runs.rundir import RunDir


def test_window_lengths_cover_one_pass_with_the_search_jitter():
    lengths = window_lengths(1000, 35, "search", torch.Generator().manual_seed(0))
    assert set(lengths) <= {35, 17} and 17 in lengths
    assert sum(lengths[:-1]) < 1000 - 2 <= sum(lengths)
    train = window_lengths(10_000, 35, "train", torch.Generator().manual_seed(0))
    assert min(train) >= 5 and max(train) <= 55 and len(set(train)) > 10


def test_streams_carry_detach_reset_and_scale_the_learning_rate():
    search = tiny_search()
    train, val = search.data.train, search.data.val
    steps = train.steps_per_epoch
    first = train.next()
    assert torch.count_nonzero(first.inputs[1]) == 0  # a pass starts from zeros
    assert first.lr_scale == first.inputs[0].shape[0] / 8
    arch = val.next()
    assert arch.inputs[0].shape[0] == 8 and arch.targets.numel() == 8 * 4
    outputs = search.darts_step(first, arch, search.plan())
    assert search.weight_optimizer.param_groups[0]["lr"] == 20.0 * first.lr_scale
    train.carry(outputs)
    second = train.next()
    assert torch.equal(second.inputs[1], outputs.hidden.detach())
    assert not second.inputs[1].requires_grad
    assert torch.count_nonzero(val.hidden) > 0  # the arch step carried the alpha stream
    assert val.next().inputs[0].shape[0] == 8
    for _ in range(steps - 2):
        train.next()
    train.next()  # the next pass
    assert torch.count_nonzero(train.hidden) == 0 and train.index == 1


def test_arch_rows_follow_the_weight_stream_modulo_rows_minus_one():
    search = tiny_search()
    train, val = search.data.train, search.data.val
    rows = val.data.shape[0]
    for _ in range(6):
        batch = train.next()
        arch = val.next()
        start = train.start % (rows - 1)
        assert torch.equal(arch.inputs[0], val.data[start:start + arch.inputs[0].shape[0]])
        train.carry(type("Out", (), {"hidden": batch.inputs[1]}))


def test_the_weight_step_adds_tar_the_objective_does_not():
    search = tiny_search(tar=0.5)
    batch = search.data.train.next()
    weights = {k: w.detach() for k, w in search.architecture().items()}
    search.supernet.train()
    outputs = search.supernet(*batch.inputs, weights)
    assert float(search.domain.penalty(outputs).detach()) > 0
    nll = search.domain.loss(outputs, batch)
    assert torch.allclose(nll, torch.nn.functional.nll_loss(outputs.log_probs, batch.targets))


def _double_problem():
    """A float64 tiny RNN search with dropout off (deterministic), and two batches."""
    search = tiny_search(hidden_size=4)
    search.supernet.double()
    search.architecture.double()
    train, val = search.data.train.next(), search.data.val.next()

    def as_double(batch: Batch) -> Batch:
        tokens, hidden = batch.inputs
        return Batch((tokens, torch.randn_like(hidden.double())), batch.targets, batch.size)

    return search, as_double(train), as_double(val)


def _unrolled_autograd(search, train, val, xi, wd, clip):
    """d/d alpha of L_val(w - xi (c(g) g + wd w), alpha), g = grad_w L_train(w, alpha),
    with autograd through the whole unrolled step (the clip included)."""
    objective = search.objective
    alpha = [a.detach().clone().requires_grad_(True)
             for a in search.architecture.parameters_list()]
    w = {n: p.detach().clone().requires_grad_(True) for n, p in objective.weights().items()}
    grads = torch.autograd.grad(objective(w, alpha, train), list(w.values()),
                                create_graph=True)
    if clip is not None:
        c = hypergradient.clip_coefficient(list(grads), clip)
        grads = [c * g for g in grads]
    w_prime = {n: w_i - xi * (g + wd * w_i) for (n, w_i), g in zip(w.items(), grads,
                                                                  strict=True)}
    return torch.autograd.grad(objective(w_prime, alpha, val), alpha)


@pytest.mark.parametrize("clip", [None, 1e-2, 1e3])
def test_clipped_second_order_equals_autograd_through_the_unrolled_step(clip):
    search, train, val = _double_problem()
    xi, wd = 0.7, 1e-3
    expected = _unrolled_autograd(search, train, val, xi, wd, clip)
    alpha = search.architecture.parameters_list()
    common = dict(xi=xi, momentum_buffers={}, momentum=0.0, weight_decay=wd, grad_clip=clip)
    exact = hypergradient.second_order_exact(search.objective, alpha, train, val, **common)
    finite = hypergradient.second_order_finite_difference(search.objective, alpha, train, val,
                                                          r=1e-4, **common)
    for e, x, f in zip(expected, exact, finite, strict=True):
        assert torch.allclose(x, e, rtol=1e-7, atol=1e-10)
        assert torch.allclose(f, e, rtol=1e-4, atol=1e-7)
    if clip == 1e-2:  # the clip is active here and changes the gradient
        unclipped = _unrolled_autograd(search, train, val, xi, wd, None)
        assert not torch.allclose(unclipped[0], expected[0], rtol=1e-3)


@pytest.mark.parametrize("order,second_order", [(1, "finite-difference"), (2, "exact"),
                                                (2, "finite-difference")])
def test_every_order_runs_an_epoch_and_moves_alpha(order, second_order):
    search = tiny_search(order=order, second_order=second_order, epochs=1)
    before = search.architecture.parameters_list()[0].detach().clone()
    record = search.train_epoch()
    assert record["train_perplexity"] > 1 and record["lr"] == 20.0
    assert not torch.equal(before, search.architecture.parameters_list()[0])
    evaluation = search.evaluate()
    assert evaluation["val_perplexity"] == pytest.approx(
        torch.exp(torch.tensor(evaluation["val_loss"])).item())


def test_state_dict_round_trip_continues_identically():
    reference = tiny_search(dropout=0.3, dropouth=0.2)
    reference.train_epoch()
    reference.epoch += 1
    state = copy.deepcopy(reference.state_dict())
    reference.train_epoch()
    resumed = tiny_search(dropout=0.3, dropouth=0.2)
    resumed.load_state_dict(state)
    resumed.train_epoch()
    assert torch.equal(reference.architecture.parameters_list()[0],
                       resumed.architecture.parameters_list()[0])
    for name, tensor in reference.supernet.state_dict().items():
        assert torch.equal(tensor, resumed.supernet.state_dict()[name]), name


def test_the_preset_keeps_language_settings_apart_from_the_algorithm():
    config = tiny_config()
    assert config.domain_settings["hidden_size"] == 6 and config.lr == 20.0
    assert config.momentum == 0.0 and config.weight_decay == 5e-7
    assert config.virtual_step_clip and config.grad_clip == 0.25
    assert "bptt" not in config.to_dict() and config.to_dict()["domain_settings"]["bptt"] == 8


def _cli(out, *extra):
    return [sys.executable, "-m", "rdarts", "search", "--domain", "language", "--preset",
            "smoke", "--epochs", "3", "--device", "cpu", "--quiet", "--out", str(out), *extra]


@pytest.mark.slow
def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_cli(tmp_path / "reference"), check=True, env=env, capture_output=True)
    killed = tmp_path / "killed"
    process = subprocess.Popen(_cli(killed), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if len(RunDir(killed).read_metrics()) >= 1:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    done = subprocess.run(_cli(killed, "--resume"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    reference = RunDir(tmp_path / "reference").read_metrics()
    resumed = RunDir(killed).read_metrics()
    assert [r["epoch"] for r in resumed] == [0, 1, 2]
    for a, b in zip(reference, resumed, strict=True):
        assert a["val_perplexity"] == b["val_perplexity"] and a["genotype"] == b["genotype"]
        assert a["lambda_max"] == b["lambda_max"]
    first = reference[0]
    assert {"train_perplexity", "val_perplexity", "lambda_max", "genotype"} <= set(first)
    alpha = [torch.load(run / "checkpoint.pt", weights_only=True)["architecture"]
             for run in (tmp_path / "reference", killed)]
    assert all(torch.equal(alpha[0][k], alpha[1][k]) for k in alpha[0])
    result = json.loads((killed / "result.json").read_text())
    assert result["score"] == {"name": "perplexity", "higher": False}
