"""The DARTS search: alternating architecture and weight steps, one epoch at a time.

`Search` holds the whole search state (one object, one `state_dict`): supernet weights and BN
statistics, alpha, both optimisers, both batch streams with their RNGs, the global RNG states
and the epoch. Schedules are pure functions of the epoch, so restoring this state continues a
run exactly. `run_search` is the driver that adds the run directory, metrics and checkpoints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rdarts.core import curvature, hypergradient
from rdarts.core.genotype import Genotype, derive, save_genotype
from rdarts.core.lanczos import lanczos_extremes
from rdarts.core.space import SearchSpace, get_space
from rdarts.domains.image.datasets import ImageDataset, split_train_val, subset
from rdarts.domains.image.loading import load_dataset
from rdarts.domains.image.s5 import S5Table, table_for_search
from rdarts.domains.image.stream import Augmentation, BatchStream, evaluation_batches, normalize
from rdarts.domains.image.supernet import Architecture, EdgeWeights, Supernet, alpha_entry_names
from rdarts.errors import DivergenceError
from rdarts.runs.rundir import RunDir
from rdarts.runtime import resolve_device, rng_state, seed_everything, set_rng_state
from rdarts.schedules import cosine_lr, linear_ramp
from rdarts.search.config import SearchConfig

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class EpochSettings:
    """The schedule values of one epoch (spec sections 3 and 4)."""

    lr: float
    drop_path_prob: float
    cutout_prob: float


def epoch_settings(config: SearchConfig, epoch: int,
                   drop_path_max: float | None = None) -> EpochSettings:
    """Schedules of `epoch`; `drop_path_max` overrides the configured maximum (DARTS-ADA)."""
    cutout = (config.cutout_prob if config.cutout_schedule == "constant"
              else linear_ramp(epoch, config.epochs, config.cutout_prob))
    drop_path = config.drop_path if drop_path_max is None else drop_path_max
    return EpochSettings(
        lr=cosine_lr(epoch, config.epochs, config.lr, config.lr_min),
        drop_path_prob=linear_ramp(epoch, config.epochs, drop_path),
        cutout_prob=cutout,
    )


class Search:
    """One DARTS search (Liu et al. 2019, Algorithm 1) with the paper's defaults."""

    def __init__(self, config: SearchConfig, dataset: ImageDataset, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.space: SearchSpace = get_space(config.space, config.nodes)
        seed_everything(config.seed)
        if config.max_train_images is not None:
            dataset = subset(dataset, config.max_train_images, None)
        self.dataset = dataset
        (train_x, train_y), (val_x, val_y) = split_train_val(dataset, config.train_portion)
        self.augmentation = Augmentation(crop_padding=config.crop_padding, flip=config.flip,
                                          cutout_length=config.cutout_length, cutout_prob=0.0)
        stream = dict(mean=dataset.mean, std=dataset.std, device=device,
                      batch_size=config.batch_size)
        self.train_stream = BatchStream(train_x, train_y, seed=config.seed + 1,
                                        augmentation=self.augmentation, **stream)
        # Alpha is trained on un-augmented validation batches, as in DARTS.
        self.val_stream = BatchStream(val_x, val_y, seed=config.seed + 2, **stream)
        self.supernet = Supernet(self.space, C=config.channels, num_classes=dataset.num_classes,
                                 layers=config.layers,
                                 in_channels=dataset.in_channels).to(device)
        self.architecture = Architecture(self.space).to(device)
        self.weight_optimizer = torch.optim.SGD(self.supernet.parameters(), lr=config.lr,
                                                momentum=config.momentum,
                                                weight_decay=config.weight_decay)
        self.arch_optimizer = torch.optim.Adam(self.architecture.parameters(), lr=config.arch_lr,
                                               betas=(config.arch_beta1, config.arch_beta2),
                                               weight_decay=config.arch_weight_decay)
        self.epoch = 0  # the next epoch to run
        self.drop_path_max = config.drop_path  # a regulariser DARTS-ADA may raise
        self.top_eigenvector: torch.Tensor | None = None  # warm start for the next Lanczos run
        # On S5, every epoch's genotype is scored against the tabular benchmark (Figure 2).
        self.benchmark: S5Table | None = table_for_search(config.regret_table, self.space,
                                                          config.dataset)

    @property
    def steps_per_epoch(self) -> int:
        return self.train_stream.steps_per_pass

    @property
    def epochs(self) -> int:
        return self.config.epochs

    @property
    def finished(self) -> bool:
        """A plain search runs all its epochs; methods with stopping rules override this."""
        return False

    def between_epochs(self, run_dir: RunDir) -> None:
        """Nothing to do between epochs of a plain search (DARTS-ADA rolls back here)."""

    # ---- the driver's interface (rdarts.driver.EpochTask) -------------------------------
    def describe(self) -> str:
        return (f"search: space {self.space.name} ({self.space.num_alpha} alphas), dataset "
                f"{self.dataset.name}, {self.epochs} epochs x {self.steps_per_epoch} steps, "
                f"order {self.config.order}, device {self.device}")

    def run_epoch(self, progress: Callable[..., Any] | None = None) -> dict[str, Any]:
        """Train one epoch, then the one-shot validation, lambda_max when due, softmax(alpha)
        and the genotype: one metrics.jsonl line (without epoch and seconds)."""
        record: dict[str, Any] = {**self.train_epoch(progress), **self.evaluate()}
        if self.curvature_due():
            record.update(self.measure_curvature())
        record["alpha_softmax"] = {
            k: [[round(x, 6) for x in row] for row in w.detach().cpu().tolist()]
            for k, w in self.architecture().items()
        }
        record["genotype"] = self.genotype().to_dict()
        record.update(self.benchmark_fields(record["genotype"]))
        return record

    def benchmark_fields(self, genotype: dict[str, Any]) -> dict[str, Any]:
        """`test_regret` and the table entry of a genotype when a table is in use (else {})."""
        if self.benchmark is None:
            return {}
        found = self.benchmark.lookup(genotype)
        return {"test_regret": found["test_regret"], "benchmark": found}

    def epoch_line(self, record: dict[str, Any]) -> str:
        curvature_text = (f"  lambda_max {record['lambda_max']:.4f}"
                          if "lambda_max" in record else "")
        return (f"train loss {record['train_loss']:.3f} acc {record['train_accuracy']:.3f}  "
                f"one-shot val loss {record['val_loss']:.3f} acc {record['val_accuracy']:.3f}  "
                f"lr {record['lr']:.4f}{curvature_text}{regret_text(record)}")

    def write_epoch_files(self, run_dir: RunDir) -> None:
        save_genotype(self.genotype(), run_dir.file("genotype.json"))

    def summary(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        final = records[-1] if records else {}
        keys = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lambda_max")
        return {
            "space": self.space.name,
            "epochs": self.epochs,
            "genotype": self.genotype().to_dict(),
            "final": {k: final[k] for k in keys if k in final},
            "search_seconds": round(sum(r["seconds"] for r in records), 3),
        }

    # ---- one iteration ------------------------------------------------------------------
    def arch_step(self, train_batch: Batch, val_batch: Batch, settings: EpochSettings) -> None:
        """alpha <- Adam step on the (first- or second-order) hypergradient."""
        alpha = self.architecture.parameters_list()
        common = {"drop_path_prob": settings.drop_path_prob}
        if self.config.order == 1:
            grads = hypergradient.first_order(self.supernet, alpha, val_batch, **common)
        else:
            second_order = (hypergradient.second_order_exact
                            if self.config.second_order == "exact"
                            else hypergradient.second_order_finite_difference)
            grads = second_order(self.supernet, alpha, train_batch, val_batch, xi=settings.lr,
                                 momentum_buffers=self._momentum_buffers(),
                                 momentum=self.config.momentum,
                                 weight_decay=self._weight_decay(), **common)
        self.arch_optimizer.zero_grad(set_to_none=True)
        for a, g in zip(alpha, grads, strict=True):
            a.grad = g
        self.arch_optimizer.step()

    def weight_step(self, train_batch: Batch, settings: EpochSettings,
                    genotype: Genotype | None = None) -> tuple[torch.Tensor, ...]:
        """w <- SGD step on L_train(w, alpha) with the freshly updated alpha (held fixed), or on
        one sampled architecture's path (`genotype`, RS-ws)."""
        images, labels = train_batch
        weights = None if genotype is not None else {
            k: w.detach() for k, w in self.architecture().items()}
        logits = self.supernet(images, weights, settings.drop_path_prob, genotype=genotype)
        loss = F.cross_entropy(logits, labels)
        self.weight_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
        self.weight_optimizer.step()
        correct = (logits.argmax(dim=1) == labels).sum()
        return loss.detach() * labels.numel(), correct

    def train_epoch(self, progress: Callable[..., Any] | None = None) -> dict[str, float]:
        """One search epoch; returns the schedule values and the running training metrics."""
        settings = self.settings()
        self.prepare_epoch(settings)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        for _ in range(self.steps_per_epoch):
            train_batch = self.train_stream.next()
            val_batch = self.val_stream.next()
            self.arch_step(train_batch, val_batch, settings)
            step_loss, step_correct = self.weight_step(train_batch, settings)
            loss_sum += step_loss
            correct += step_correct
            seen += train_batch[1].numel()
            if progress is not None:
                progress()
        train_loss = loss_sum.item() / seen
        self.check_finite(train_loss)
        return {"lr": settings.lr, "drop_path_prob": settings.drop_path_prob,
                "cutout_prob": settings.cutout_prob, "train_loss": train_loss,
                "train_accuracy": correct.item() / seen}

    def prepare_epoch(self, settings: EpochSettings) -> None:
        """Apply the epoch's learning rate and Cutout probability; training mode."""
        self._set_lr(settings.lr)
        self.train_stream.augmentation = self._augmentation(settings)
        self.supernet.train()

    def check_finite(self, train_loss: float) -> None:
        if not math.isfinite(train_loss) or not self._alpha_finite():
            raise DivergenceError(f"the training loss became {train_loss} in epoch {self.epoch}")

    def settings(self) -> EpochSettings:
        return epoch_settings(self.config, self.epoch, self.drop_path_max)

    # ---- regularisation (spec sections 4 and 7) -----------------------------------------
    def regularization(self) -> dict[str, float]:
        return {"weight_decay": self._weight_decay(), "drop_path": self.drop_path_max}

    def set_regularization(self, weight_decay: float | None = None,
                           drop_path: float | None = None) -> None:
        """Change the L2 factor (used by both the SGD step and the second-order unrolled
        step) or the drop-path maximum from now on."""
        if weight_decay is not None:
            for group in self.weight_optimizer.param_groups:
                group["weight_decay"] = weight_decay
        if drop_path is not None:
            self.drop_path_max = drop_path

    # ---- evaluation ---------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, weights: EdgeWeights | None = None) -> dict[str, float]:
        """One-shot validation loss and accuracy on the alpha split, BN in eval mode.

        With `weights` (e.g. a genotype's one-hot encoding) this evaluates the discretised
        one-shot model of the paper's Section 6.
        """
        weights = self.architecture() if weights is None else weights
        weights = {k: w.to(self.device) for k, w in weights.items()}
        was_training = self.supernet.training
        self.supernet.eval()
        loss_sum, correct, seen = 0.0, 0, 0
        for index, (images, labels) in enumerate(self.validation_batches()):
            if self.config.val_batches is not None and index >= self.config.val_batches:
                break
            logits = self.supernet(images, weights)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(dim=1) == labels).sum().item()
            seen += labels.numel()
        self.supernet.train(was_training)
        return {"val_loss": loss_sum / seen, "val_accuracy": correct / seen}

    def validation_batches(self) -> Iterator[Batch]:
        """The whole validation (alpha) split in order, normalised, no augmentation."""
        return evaluation_batches(self.val_stream.images, self.val_stream.labels,
                                  batch_size=max(self.config.batch_size, 256),
                                  mean=self.dataset.mean, std=self.dataset.std,
                                  device=self.device)

    def genotype(self) -> Genotype:
        return derive(self.architecture(), self.space)

    # ---- curvature (spec section 5) -----------------------------------------------------
    def curvature_due(self) -> bool:
        every = self.config.hessian_every
        return every > 0 and ((self.epoch + 1) % every == 0 or self.epoch + 1 == self.config.epochs)

    def curvature_batches(self, count: int, epoch: int | None = None) -> list[Batch]:
        """`count` random validation batches, drawn from a generator seeded by (seed, epoch)
        (`epoch` defaults to the current one).

        A private generator, so that measuring the curvature never shifts the batches or the
        random draws of the search itself: a run with and without it follows the same path.
        """
        epoch = self.epoch if epoch is None else epoch
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        images, labels = self.val_stream.images, self.val_stream.labels
        size = min(self.config.batch_size, len(labels))
        batches = []
        for _ in range(count):
            index = torch.randperm(len(labels), generator=generator)[:size].to(labels.device)
            batches.append((normalize(images[index], self.dataset.mean, self.dataset.std),
                            labels[index]))
        return batches

    def curvature_operator(self, batches: list[Batch],
                           shift: bool | None = None) -> curvature.HessianOperator:
        """H = mean over batches of nabla^2_alpha L_val(w, alpha) (+ alpha weight decay * I).

        w is held fixed; every closure runs on scratch copies of the BN buffers, so the
        running statistics of the search are untouched (the network's mode is set by callers).
        """
        params = {name: p.detach() for name, p in self.supernet.named_parameters()}

        def closure(batch: Batch) -> curvature.LossFn:
            return lambda alpha: hypergradient.loss_at(self.supernet, params, list(alpha), batch)

        shift = self.config.hessian_shift if shift is None else shift
        return curvature.HessianOperator([closure(b) for b in batches],
                                         self.architecture.parameters_list(),
                                         self.config.arch_weight_decay if shift else 0.0)

    def measure_curvature(self, batches: int | None = None, with_spectrum: bool = False,
                          mode: str | None = None, shift: bool | None = None
                          ) -> dict[str, Any]:
        """lambda_max, lambda_min and what they cost; per-batch spread when averaging m > 1
        batches; the alpha entries that dominate the top eigenvector; optionally the dense
        Hessian's whole spectrum (the paper's Figures 13/14). `mode` and `shift` override the
        configuration's. Leaves the search state and every RNG as they were."""
        count = self.config.hessian_batches if batches is None else batches
        devices = [self.device] if self.device.type == "cuda" else []
        was_training = self.supernet.training
        self.supernet.train((mode or self.config.hessian_mode) == "train")
        try:
            with torch.random.fork_rng(devices=devices, device_type=self.device.type):
                record = self._curvature_record(self.curvature_batches(count), with_spectrum,
                                                shift)
        finally:
            self.supernet.train(was_training)
        return record

    def _curvature_record(self, batches: list[Batch], with_spectrum: bool,
                          shift: bool | None) -> dict[str, Any]:
        start = time.perf_counter()
        with self.curvature_operator(batches, shift) as operator:
            result = lanczos_extremes(operator.matvec, operator.n,
                                      init=self.top_eigenvector)
            products = operator.products
            hessian = curvature.dense_hessian(operator) if with_spectrum else None
        self.top_eigenvector = result.eigenvector.detach().cpu()
        record: dict[str, Any] = {
            "lambda_max": result.lambda_max,
            "lambda_min": result.lambda_min,
            "hessian_products": products,
            "hessian_seconds": round(time.perf_counter() - start, 4),
            "hessian_residual": result.residual,
            "lambda_max_error_estimate": result.error_estimate,
            "hessian_batches": len(batches),
            "lambda_max_dominant": [
                [name, round(value, 4)] for name, value in curvature.dominant_entries(
                    result.eigenvector, alpha_entry_names(self.space), k=5)
            ],
        }
        if len(batches) > 1:
            per_batch = []
            for batch in batches:
                with self.curvature_operator([batch], shift) as operator:
                    per_batch.append(
                        lanczos_extremes(operator.matvec, operator.n).lambda_max)
            record["lambda_max_per_batch"] = per_batch
            record["lambda_max_std"] = float(np.std(per_batch))
        if hessian is not None:
            eigenvalues = curvature.spectrum(hessian)
            record["spectrum"] = eigenvalues.tolist()
            record["top30_by_magnitude"] = curvature.top_by_magnitude(eigenvalues, 30).tolist()
            record["lambda_max_dense"] = float(eigenvalues[0])
        return record

    # ---- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (design.md: one state object)."""
        return {
            "epoch": self.epoch,
            "config": self.config.to_dict(),
            "supernet": self.supernet.state_dict(),
            "architecture": self.architecture.state_dict(),
            "weight_optimizer": self.weight_optimizer.state_dict(),
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "train_stream": self.train_stream.state_dict(),
            "val_stream": self.val_stream.state_dict(),
            "rng": rng_state(self.device),
            "top_eigenvector": self.top_eigenvector,
            "drop_path_max": self.drop_path_max,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.supernet.load_state_dict(state["supernet"])
        self.architecture.load_state_dict(state["architecture"])
        self.weight_optimizer.load_state_dict(state["weight_optimizer"])
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.train_stream.load_state_dict(state["train_stream"])
        self.val_stream.load_state_dict(state["val_stream"])
        set_rng_state(state["rng"], self.device)
        self.top_eigenvector = state.get("top_eigenvector")
        self.drop_path_max = state.get("drop_path_max", self.config.drop_path)

    # ---- helpers ------------------------------------------------------------------------
    def _set_lr(self, lr: float) -> None:
        for group in self.weight_optimizer.param_groups:
            group["lr"] = lr

    def _weight_decay(self) -> float:
        return self.weight_optimizer.param_groups[0]["weight_decay"]

    def _augmentation(self, settings: EpochSettings) -> Augmentation:
        return Augmentation(crop_padding=self.augmentation.crop_padding,
                            flip=self.augmentation.flip,
                            cutout_length=self.augmentation.cutout_length,
                            cutout_prob=settings.cutout_prob)

    def _momentum_buffers(self) -> dict[str, torch.Tensor]:
        state = self.weight_optimizer.state
        buffers = {}
        for name, p in self.supernet.named_parameters():
            m = state.get(p, {}).get("momentum_buffer")
            if m is not None:
                buffers[name] = m
        return buffers

    def _alpha_finite(self) -> bool:
        return all(bool(torch.isfinite(a).all()) for a in self.architecture.parameters_list())


def build_search(config: SearchConfig) -> Search:
    device = resolve_device(config.device)
    dataset = load_dataset(config.dataset, config.data_dir, download=config.download)
    return Search(config, dataset, device)




def regret_text(record: dict[str, Any]) -> str:
    """The epoch line's test regret (in percentage points), when the record has one."""
    if record.get("test_regret") is None:
        return ""
    return (f"  test regret {100 * record['test_regret']:.2f} "
            f"({record['benchmark']['architecture']})")
