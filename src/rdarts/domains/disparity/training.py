"""Training a disparity genotype from scratch: the evaluation network of Zela et al. Section 5.

Adam (beta 0.9, 0.999) with the learning rate cosine-annealed every step to `lr_min` (paper:
1e-4 to 0 over 300k iterations; 1e-3 at CPU scale), gradient clipping, the multi-scale L1
loss on augmented training batches (the unscaled augmentation, F = 1, by default: the paper
does not alter the final training's regularisation). After every epoch the EPE in input
pixels on the evaluation splits: `test` and `test-shift` (in-domain and shifted test;
FlyingThings3D and Sintel in the paper), or `val` with `eval: holdout` (selection runs never
look at a test split). The last epoch's numbers are the result, with the parameter count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from rdarts.core.genotype import Genotype
from rdarts.domains.disparity.augment import augment
from rdarts.domains.disparity.domain import IDENTITY_PRESET, load_pairs, topology_of
from rdarts.domains.disparity.loss import epe_sums, multiscale_loss
from rdarts.domains.disparity.network import DisparityNetwork, count_parameters
from rdarts.domains.disparity.settings import DisparityTrainConfig
from rdarts.domains.disparity.stereo import StereoSet
from rdarts.domains.disparity.stream import InOrder, StereoStream
from rdarts.errors import DivergenceError
from rdarts.runs.records import MetricsLine, TrainingResult
from rdarts.runs.rundir import RunDir
from rdarts.runtime import resolve_device, rng_state, seed_everything, set_rng_state
from rdarts.schedules import cosine_lr

EVAL_BATCH = 32


def epe_key(split: str) -> str:
    """The metrics key of a split's EPE: test_epe, test_shift_epe, val_epe."""
    return f"{split.replace('-', '_')}_epe"


def evaluation_sources(config: DisparityTrainConfig) -> dict[str, tuple[str, str | None, str,
                                                                        int]]:
    """split name -> (dataset, data folder, its split, pairs): `val` for eval holdout; else
    `test` and `test-shift` (flying shapes generate both; FlyingThings3D's shifted test is
    Sintel, read from `shift_data_dir` when given)."""
    if config.eval == "holdout":
        return {"val": (config.dataset, config.data_dir, "val", config.val_pairs)}
    sources = {"test": (config.dataset, config.data_dir, "test", config.test_pairs)}
    if config.dataset == "shapes":
        sources["test-shift"] = ("shapes", None, "test-shift", config.test_pairs)
    elif config.shift_data_dir is not None:
        sources["test-shift"] = ("sintel", config.shift_data_dir, "test-shift",
                                 config.test_pairs)
    return sources


def evaluation_size(config: DisparityTrainConfig, dataset: str) -> tuple[int | None, ...]:
    """Generated pairs at the training size; real test frames at their own (the network
    resizes them to a multiple of its coarsest level and its prediction back)."""
    return (config.height, config.width) if dataset == "shapes" else (None, None)


class DisparityTraining:
    """The state of one training (one `state_dict`, exact resume): an `EpochTask`."""

    def __init__(self, config: DisparityTrainConfig, genotype: Genotype,
                 device: torch.device) -> None:
        self.config, self.genotype, self.device = config, genotype, device
        seed_everything(config.seed)
        train = load_pairs(config.dataset, config.data_dir, "train", config.train_pairs,
                           config.data_seed, config.height, config.width).to(device)
        self.splits: dict[str, StereoSet] = {
            name: load_pairs(*source, config.data_seed, *evaluation_size(config, source[0]))
            .to(device) for name, source in evaluation_sources(config).items()}
        self.train_stream = StereoStream(train, config.batch_size, config.seed + 1,
                                         augment=partial(augment, preset=config.augment_preset),
                                         factor=config.augment_scale,
                                         identity_at_zero=config.augment_preset == IDENTITY_PRESET)
        nodes = len(genotype.cell("normal"))
        self.network = DisparityNetwork(genotype, topology_of(config.channels, config,
                                                              nodes)).to(device)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.lr,
                                          betas=(0.9, 0.999), weight_decay=config.weight_decay)
        self.epoch = 0

    # ---- the driver's interface ---------------------------------------------------------
    @property
    def epochs(self) -> int:
        return self.config.epochs

    @property
    def steps_per_epoch(self) -> int:
        return self.train_stream.steps_per_epoch

    @property
    def finished(self) -> bool:
        return False

    @property
    def parameters(self) -> int:
        return count_parameters(self.network)

    def between_epochs(self, run_dir: RunDir) -> None:
        """Nothing happens between epochs."""

    def describe(self) -> str:
        return (f"train: {self.parameters / 1e6:.3f}M parameters, dataset {self.config.dataset}"
                f" (EPE on {' and '.join(self.splits)}), {self.epochs} epochs x "
                f"{self.steps_per_epoch} steps, device {self.device}")

    def set_lr(self, step: int) -> float:
        """Cosine annealing every step (the paper anneals over its 300k iterations)."""
        lr = cosine_lr(self.epoch + step / self.steps_per_epoch, self.epochs, self.config.lr,
                       self.config.lr_min)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def train_epoch(self, progress: Callable[..., Any] | None = None) -> dict[str, float]:
        self.network.train()
        lr = self.set_lr(0)
        loss_sum = torch.zeros((), device=self.device)
        pairs = 0
        for step in range(self.steps_per_epoch):
            self.set_lr(step)
            batch = self.train_stream.next()
            loss = multiscale_loss(self.network(*batch.inputs), batch.targets)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), self.config.grad_clip)
            self.optimizer.step()
            loss_sum += loss.detach() * batch.size
            pairs += batch.size
            if progress is not None:
                progress()
        train_loss = loss_sum.item() / pairs
        if not math.isfinite(train_loss):
            raise DivergenceError(f"the training loss became {train_loss} in epoch {self.epoch}")
        return {"lr": lr, "train_loss": train_loss}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """The EPE (input pixels, all pixels with ground truth) of every evaluation split."""
        self.network.eval()
        record = {}
        for name, pairs in self.splits.items():
            total, pixels = 0.0, 0.0
            batch_size = EVAL_BATCH if self.config.dataset == "shapes" else self.config.batch_size
            for batch in InOrder(pairs, batch_size):
                sums = epe_sums(self.network(*batch.inputs), batch.targets)
                total += sums["epe_sum"].item()
                pixels += sums["pixels"].item()
            record[epe_key(name)] = total / max(pixels, 1.0)
        return record

    def run_epoch(self, progress: Callable[..., Any] | None = None) -> MetricsLine:
        return {**self.train_epoch(progress), **self.evaluate()}

    def epoch_line(self, record: dict[str, Any]) -> str:
        evaluations = "".join(f"  {name} EPE {record[epe_key(name)]:.3f}"
                              for name in self.splits)
        return f"train loss {record['train_loss']:.3f}{evaluations}  lr {record['lr']:.2e}"

    def write_epoch_files(self, run_dir: RunDir) -> None:
        """No per-epoch files besides metrics and the checkpoint."""

    def summary(self, records: list[MetricsLine]) -> TrainingResult:
        final = records[-1] if records else {}
        scores = {key: final.get(key) for key in final if key.endswith("_epe")}
        return {"eval": self.config.eval, "dataset": self.config.dataset, **scores,
                "parameters": self.parameters, "epochs": self.epochs,
                "genotype": self.genotype.to_dict(),
                "score": {"name": "epe", "higher": False},
                "train_seconds": round(sum(r["seconds"] for r in records), 3)}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch,
                "config": {**self.config.to_dict(), "genotype": self.genotype.to_dict()},
                "network": self.network.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "train_stream": self.train_stream.state_dict(), "rng": rng_state(self.device)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.train_stream.load_state_dict(state["train_stream"])
        set_rng_state(state["rng"], self.device)


def build_training(config: DisparityTrainConfig, genotype: Genotype) -> DisparityTraining:
    return DisparityTraining(config, genotype, resolve_device(config.device))
