"""The discrete evaluation network, training from scratch, and the discretisation drop."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from rdarts.cli.app import main
from rdarts.core.genotype import derive, genotype_from_dict, one_hot
from rdarts.domains.image.network import Network, count_parameters
from rdarts.domains.image.spaces import BUILTIN_SPACES, get_space
from rdarts.domains.image.training import build_training
from rdarts.errors import RunDirError
from rdarts.runs.rundir import RunDir
from rdarts.search.config import resolve, resolve_train
from rdarts.search.task import run_search
from rdarts.train.run import retrain_score as retrain_accuracy
from rdarts.train.run import run_training

QUICK = {"dataset": "fashion-mnist", "epochs": 2, "channels": 4, "layers": 3, "batch_size": 16,
         "max_train_images": 96, "cutout_length": 8, "device": "cpu"}


def _random_genotype(space_name: str, nodes: int | None = None, seed: int = 0):
    space = get_space(space_name, nodes)
    generator = torch.Generator().manual_seed(seed)
    return derive({c: torch.rand(space.alpha_shape(c), generator=generator)
                   for c in ("normal", "reduce")}, space)


@pytest.mark.parametrize("space", sorted(BUILTIN_SPACES))
@pytest.mark.parametrize("auxiliary", [True, False])
def test_network_shapes_for_every_space(space, auxiliary):
    nodes = 1 if space == "s5" else 4
    for n in {nodes, 1} if space != "s1" else {4}:
        genotype = _random_genotype(space, n)
        net = Network(genotype, C=4, num_classes=10, layers=5, auxiliary=auxiliary,
                      in_channels=3)
        logits, logits_aux = net(torch.randn(2, 3, 32, 32), drop_path_prob=0.2)
        assert logits.shape == (2, 10)
        assert (logits_aux is not None) == auxiliary
        if auxiliary:
            assert logits_aux.shape == (2, 10)
        net.eval()
        assert net(torch.randn(2, 3, 32, 32))[1] is None


def test_auxiliary_head_on_28_pixel_images():
    net = Network(_random_genotype("s3"), C=4, num_classes=10, layers=5, in_channels=1)
    logits, logits_aux = net(torch.randn(2, 1, 28, 28))
    assert logits.shape == logits_aux.shape == (2, 10)


def test_parameter_count_excludes_the_auxiliary_head():
    net = Network(_random_genotype("darts"), C=8, layers=5, auxiliary=True)
    assert count_parameters(net) < count_parameters(net, include_auxiliary=True)
    bare = Network(_random_genotype("darts"), C=8, layers=5, auxiliary=False)
    assert count_parameters(net) == count_parameters(bare)


def test_drop_path_never_touches_identity_ops():
    skips = {"normal": [["skip_connect", 0], ["skip_connect", 1]],
             "reduce": [["skip_connect", 0], ["skip_connect", 1]]}
    net = Network(genotype_from_dict(skips), C=4, num_classes=3, layers=3, auxiliary=False,
                  in_channels=1)
    normal_cell = next(cell for cell in net.cells if not cell.reduction)
    assert normal_cell.droppable == [False, False]
    reduction_cell = next(cell for cell in net.cells if cell.reduction)
    assert reduction_cell.droppable == [True, True]  # FactorizedReduce is not an identity
    s0, s1 = torch.randn(4, 12, 8, 8), torch.randn(4, 12, 8, 8)
    normal_cell.train()
    assert torch.equal(normal_cell(s0, s1, 0.9), normal_cell(s0, s1, 0.0))

    convs = {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1]],
             "reduce": [["skip_connect", 0], ["skip_connect", 1]]}
    net = Network(genotype_from_dict(convs), C=4, num_classes=3, layers=3, auxiliary=False,
                  in_channels=1)
    cell = next(cell for cell in net.cells if not cell.reduction).train()
    torch.manual_seed(0)
    assert not torch.equal(cell(s0, s1, 0.9), cell(s0, s1, 0.0))


def test_noise_stays_random_at_test_time():
    noisy = {"normal": [["noise", 0], ["noise", 1]], "reduce": [["noise", 0], ["noise", 1]]}
    net = Network(genotype_from_dict(noisy), C=4, layers=3, in_channels=1).eval()
    x = torch.randn(2, 1, 16, 16)
    assert not torch.equal(net(x)[0], net(x)[0])


def test_a_few_steps_lower_the_training_loss():
    training = build_training(resolve_train("quick", overrides={**QUICK, "drop_path": 0.0,
                                                                "cutout_prob": 0.0}),
                              _random_genotype("s3", 2))
    images, labels = training.train_stream.next()
    first = training.step(images, labels, 0.0)[0].item()
    for _ in range(15):
        last = training.step(images, labels, 0.0)[0].item()
    assert last < 0.7 * first


def test_training_run_and_exact_resume(tmp_path, monkeypatch):
    config = resolve_train("quick", overrides=QUICK)
    genotype = _random_genotype("s2", 2)
    reference = run_training(config, genotype, tmp_path / "reference", quiet=True)
    assert reference.result["eval"] == "test" and 0 <= reference.result["test_error"] <= 1
    assert reference.result["parameters"] > 0

    real_save = RunDir.save_checkpoint

    def die_at_second_epoch(self, state):
        if state["epoch"] == 2:
            raise KeyboardInterrupt
        real_save(self, state)

    monkeypatch.setattr(RunDir, "save_checkpoint", die_at_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_training(config, genotype, tmp_path / "killed", quiet=True)
    monkeypatch.setattr(RunDir, "save_checkpoint", real_save)
    resumed = run_training(config, genotype, tmp_path / "killed", resume=True, quiet=True)
    assert resumed.result["test_accuracy"] == reference.result["test_accuracy"]
    a = torch.load(tmp_path / "reference" / "checkpoint.pt", weights_only=True)["network"]
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)["network"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_checkpoint_holds_its_config_and_a_resume_checks_it(tmp_path):
    config = resolve_train("quick", overrides={**QUICK, "epochs": 1})
    genotype = _random_genotype("s2", 2)
    run = tmp_path / "run"
    run_training(config, genotype, run, quiet=True)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["config"] == {**config.to_dict(), "genotype": genotype.to_dict()}
    edited = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**edited, "epochs": 2}, sort_keys=False))
    longer = resolve_train("quick", overrides={**QUICK, "epochs": 2})
    with pytest.raises(RunDirError, match=r"another configuration \(epochs: 1 -> 2\)"):
        run_training(longer, genotype, run, resume=True, quiet=True)
    assert [r["epoch"] for r in RunDir(run).read_metrics()] == [0]


def test_lr_per_step_anneals_within_epochs_and_per_epoch_does_not(monkeypatch):
    import math

    from rdarts.domains.image import training as train_module

    seen: dict[bool, list[float]] = {}
    for per_step in (False, True):
        config = resolve_train("quick", overrides={**QUICK, "lr_per_step": per_step,
                                                   "lr": 0.1, "lr_min": 0.0})
        training = build_training(config, _random_genotype("s3", 1))
        rates: list[float] = []
        real_step = training.step

        def recording_step(images, labels, drop, training=training, rates=rates,
                           real_step=real_step):
            rates.append(training.optimizer.param_groups[0]["lr"])
            return real_step(images, labels, drop)

        monkeypatch.setattr(training, "step", recording_step)
        for _ in range(config.epochs):
            record = training.train_epoch()
            assert record["lr"] == rates[training.epoch * training.steps_per_epoch]
            training.epoch += 1
        seen[per_step] = rates
    steps = len(seen[True]) // QUICK["epochs"]
    total = QUICK["epochs"] * steps
    # Independent formula: 0.1 * (1 + cos(pi * t / T)) / 2 at every step t of T.
    assert seen[True] == pytest.approx([0.05 * (1 + math.cos(math.pi * t / total))
                                        for t in range(total)])
    assert seen[False] == pytest.approx([0.1] * steps + [0.05] * steps)
    assert train_module.cosine_lr(1.5, 2, 0.1, 0.0) == pytest.approx(
        0.05 * (1 + math.cos(0.75 * math.pi)))


def test_holdout_never_reads_the_test_set(tmp_path):
    config = resolve_train("quick", overrides={**QUICK, "epochs": 1})
    accuracy = retrain_accuracy(_random_genotype("s3", 2), config, tmp_path / "sel")
    result = json.loads((tmp_path / "sel" / "result.json").read_text())
    assert result["eval"] == "holdout" and result["val_accuracy"] == accuracy
    assert "test_accuracy" not in result
    # A second call reads the finished run back instead of training again.
    assert retrain_accuracy(_random_genotype("s3", 2), config, tmp_path / "sel") == accuracy


def test_train_command_from_a_search_run(tmp_path, capsys):
    search = run_search(resolve(overrides={"space": "s3", "nodes": 2, "layers": 3,
                                           "channels": 4, "batch_size": 16, "epochs": 1,
                                           "max_train_images": 64, "val_batches": 1,
                                           "hessian_every": 0, "device": "cpu"}),
                        tmp_path / "search", quiet=True)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in QUICK.items()]
    assert main(["train", str(tmp_path / "search"), "--preset", "quick", *flags, "--epochs", "1",
                 "--quiet", "--out", str(tmp_path / "train")]) == 0
    assert "test error" in capsys.readouterr().out
    saved = json.loads((tmp_path / "train" / "result.json").read_text())
    assert saved["genotype"] == search.genotype.to_dict()


def test_discretization_of_a_one_hot_alpha_has_no_drop(tmp_path, capsys):
    config = resolve(overrides={"space": "s3", "nodes": 2, "layers": 3, "channels": 4,
                                "batch_size": 16, "epochs": 1, "max_train_images": 64,
                                "val_batches": 2, "hessian_every": 0, "device": "cpu",
                                "save_every": 1})
    run = tmp_path / "run"
    run_search(config, run, quiet=True)
    # A hand-made alpha whose softmax is (numerically) the genotype's choice: the kept op of
    # each kept edge, `none` on every other edge (S3 offers none, skip_connect, sep_conv_3x3).
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    space = get_space("s3", 2)
    chosen = _random_genotype("s3", 2, seed=5)
    for cell, weights in one_hot(chosen, space).items():
        unused_edges = weights.sum(dim=1) == 0
        weights[unused_edges, 0] = 1.0
        state["architecture"][f"alpha.{cell}"] = 60.0 * weights - 30.0
    torch.save(state, run / "checkpoints" / "epoch-0000.pt")
    assert main(["discretize", str(run), "--epoch", "0"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert genotype_from_dict(record["genotype"]) == chosen
    assert abs(record["drop"]) < 1e-6
    assert record["one_shot_accuracy"] == pytest.approx(record["discretized_accuracy"])
    assert main(["discretize", str(run), "--all"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
