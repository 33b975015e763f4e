"""Training an image genotype from scratch: the final evaluation and short selection runs.

Spec section 10 / DARTS: SGD (lr 0.025, momentum 0.9, weight decay 3e-4) with cosine annealing
to 0, gradient clipping at 5, batch 96, Cutout 16 px, drop path ramping 0 -> 0.2 on every
non-identity op, auxiliary head weighted 0.4; the paper reports the test error of the last
epoch. `--eval holdout` instead trains on part of the training set and reports the error on
the rest: what the selection protocol of spec section 8 (R-DARTS) needs, never the test set.
`--eval both` trains on that part and reports both errors (a tabular benchmark's entry).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from rdarts.core.genotype import Genotype
from rdarts.domains.image.datasets import ImageDataset, split_train_val, subset
from rdarts.domains.image.loading import load_dataset
from rdarts.domains.image.network import Network, count_parameters
from rdarts.domains.image.stream import Augmentation, BatchStream, evaluation_batches
from rdarts.errors import DivergenceError
from rdarts.runs.records import MetricsLine, TrainingResult
from rdarts.runs.rundir import RunDir
from rdarts.runtime import resolve_device, rng_state, seed_everything, set_rng_state
from rdarts.schedules import cosine_lr, linear_ramp
from rdarts.search.config import TrainConfig


class Training:
    """The state of one from-scratch training (one `state_dict`, exact resume)."""

    def __init__(self, config: TrainConfig, genotype: Genotype, dataset: ImageDataset,
                 device: torch.device) -> None:
        self.config = config
        self.genotype = genotype
        self.device = device
        seed_everything(config.seed)
        if config.max_train_images is not None:
            dataset = subset(dataset, config.max_train_images, None)
        self.dataset = dataset
        evaluation_sets: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if config.eval in ("holdout", "both"):
            (train_x, train_y), evaluation_sets["val"] = split_train_val(
                dataset, 1.0 - config.holdout_fraction)
        else:
            train_x, train_y = dataset.train_images, dataset.train_labels
        if config.eval in ("test", "both"):
            evaluation_sets["test"] = (dataset.test_images, dataset.test_labels)
        augmentation = Augmentation(crop_padding=config.crop_padding, flip=config.flip,
                                    cutout_length=config.cutout_length,
                                    cutout_prob=config.cutout_prob)
        self.train_stream = BatchStream(train_x, train_y, config.batch_size, seed=config.seed + 1,
                                        mean=dataset.mean, std=dataset.std,
                                        augmentation=augmentation, device=device)
        self.evaluation_sets = {name: (images.to(device), labels.to(device))
                                for name, (images, labels) in evaluation_sets.items()}
        self.network = Network(genotype, C=config.channels, num_classes=dataset.num_classes,
                               layers=config.layers, auxiliary=config.auxiliary,
                               in_channels=dataset.in_channels).to(device)
        if config.channels_last:  # CPU too: its convolutions have channels_last kernels
            self.network = self.network.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(self.network.parameters(), lr=config.lr,
                                         momentum=config.momentum,
                                         weight_decay=config.weight_decay)
        self.epoch = 0

    @property
    def epochs(self) -> int:
        return self.config.epochs

    @property
    def steps_per_epoch(self) -> int:
        return self.train_stream.steps_per_pass

    @property
    def finished(self) -> bool:
        return False

    def between_epochs(self, run_dir: RunDir) -> None:
        """Training has nothing to do between epochs."""

    @property
    def parameters(self) -> int:
        return count_parameters(self.network)

    @property
    def eval_names(self) -> list[str]:
        """What the reported accuracies were measured on: 'val' (the held-out part of the
        training set) and/or 'test', in that order."""
        return list(self.evaluation_sets)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        if self.config.channels_last:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    # ---- one step and one epoch ---------------------------------------------------------
    def step(self, images: torch.Tensor, labels: torch.Tensor,
             drop_path_prob: float) -> tuple[torch.Tensor, torch.Tensor]:
        """SGD on L = CE(logits) + auxiliary_weight * CE(auxiliary logits), clipped."""
        with self._autocast():
            logits, logits_aux = self.network(self._prepare(images), drop_path_prob)
            loss = F.cross_entropy(logits, labels)
            if logits_aux is not None:
                loss = loss + self.config.auxiliary_weight * F.cross_entropy(logits_aux, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.network.parameters(), self.config.grad_clip)
        self.optimizer.step()
        correct = (logits.argmax(dim=1) == labels).sum()
        return loss.detach() * labels.numel(), correct

    def set_lr(self, step: int) -> float:
        """Cosine lr of this epoch (the paper: constant within an epoch), or with `lr_per_step`
        of this step, so that a training of a few epochs still anneals to lr_min."""
        position = self.epoch + (step / self.steps_per_epoch if self.config.lr_per_step else 0)
        lr = cosine_lr(position, self.epochs, self.config.lr, self.config.lr_min)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def train_epoch(self, progress: Callable[..., Any] | None = None) -> dict[str, float]:
        lr = self.set_lr(0)
        drop_path_prob = linear_ramp(self.epoch, self.epochs, self.config.drop_path)
        self.network.train()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        for step in range(self.steps_per_epoch):
            if self.config.lr_per_step:
                self.set_lr(step)
            images, labels = self.train_stream.next()
            step_loss, step_correct = self.step(images, labels, drop_path_prob)
            loss_sum += step_loss
            correct += step_correct
            seen += labels.numel()
            if progress is not None:
                progress()
        train_loss = loss_sum.item() / seen
        if not math.isfinite(train_loss):
            raise DivergenceError(f"the training loss became {train_loss} in epoch {self.epoch}")
        return {"lr": lr, "drop_path_prob": drop_path_prob, "train_loss": train_loss,
                "train_accuracy": correct.item() / seen}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Loss and accuracy on each evaluation set: the test set (--eval test), the held-out
        part of the training set (holdout), or both (both: a tabular benchmark's entry)."""
        self.network.eval()
        record: dict[str, float] = {}
        for name, (images_all, labels_all) in self.evaluation_sets.items():
            loss_sum, correct = 0.0, 0
            for images, labels in evaluation_batches(images_all, labels_all,
                                                     max(self.config.batch_size, 256),
                                                     self.dataset.mean, self.dataset.std,
                                                     self.device):
                with self._autocast():
                    logits, _ = self.network(self._prepare(images))
                loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").item()
                correct += (logits.argmax(dim=1) == labels).sum().item()
            count = len(labels_all)
            record[f"{name}_loss"] = loss_sum / count
            record[f"{name}_accuracy"] = correct / count
        return record

    # ---- the driver's interface (rdarts.runs.driver.EpochTask) -------------------------------
    def describe(self) -> str:
        return (f"train: {self.parameters / 1e6:.3f}M parameters, dataset {self.dataset.name} "
                f"(eval on {' and '.join(self.eval_names)}), {self.epochs} epochs x "
                f"{self.steps_per_epoch} steps, device {self.device}")

    def run_epoch(self, progress: Callable[..., Any] | None = None) -> dict[str, Any]:
        return {**self.train_epoch(progress), **self.evaluate()}

    def epoch_line(self, record: dict[str, Any]) -> str:
        evaluations = "".join(f"  {name} loss {record[f'{name}_loss']:.3f} "
                              f"acc {record[f'{name}_accuracy']:.4f}" for name in self.eval_names)
        return (f"train loss {record['train_loss']:.3f} acc {record['train_accuracy']:.3f}"
                f"{evaluations}  lr {record['lr']:.4f}")

    def write_epoch_files(self, run_dir: RunDir) -> None:
        """Training has no per-epoch files besides metrics and the checkpoint."""

    def summary(self, records: list[MetricsLine]) -> TrainingResult:
        """The last epoch's error (the paper's convention), parameters and time."""
        final = records[-1] if records else {}
        errors: dict[str, float | None] = {}
        for name in self.eval_names:
            accuracy = final.get(f"{name}_accuracy")
            errors[f"{name}_accuracy"] = accuracy
            errors[f"{name}_error"] = None if accuracy is None else 1.0 - accuracy
        return {
            "eval": self.config.eval,
            **errors,
            "parameters": self.parameters,
            "parameters_with_auxiliary": count_parameters(self.network, include_auxiliary=True),
            "epochs": self.epochs,
            "genotype": self.genotype.to_dict(),
            "train_seconds": round(sum(r["seconds"] for r in records), 3),
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs, and the run configuration it was computed with
        (what `run_training` writes as config.yaml), so a resume can check it."""
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


def build_training(config: TrainConfig, genotype: Genotype) -> Training:
    device = resolve_device(config.device)
    dataset = load_dataset(config.dataset, config.data_dir, download=config.download)
    return Training(config, genotype, dataset, device)
