"""Image classification as a domain of the search core (S1-S5, DARTS space; paper Sections 3-5).

Batches hold normalised images and labels; the loss is cross-entropy (paper Eq. 1) at both
levels and for the Hessian; the score is accuracy. The epoch plan ramps ScheduledDropPath and
Cutout linearly (Section 5.1) under a cosine learning rate (spec section 3); DARTS-ADA and
R-DARTS may raise L2 or the drop-path maximum. On S5 every genotype is scored against the
tabular benchmark (Figure 2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rdarts.core.genotype import Genotype
from rdarts.core.space import CellSpace
from rdarts.domains.base import Batch, EpochPlan, Regularizer, Score, SearchData
from rdarts.domains.image import spaces
from rdarts.domains.image.datasets import ImageDataset, split_train_val, subset
from rdarts.domains.image.genotypes import KNOWN_GENOTYPES
from rdarts.domains.image.loading import load_dataset
from rdarts.domains.image.ops import OP_NAMES
from rdarts.domains.image.stream import Augmentation, BatchStream, evaluation_batches, normalize
from rdarts.domains.image.supernet import Supernet
from rdarts.errors import GenotypeError, did_you_mean
from rdarts.schedules import cosine_lr, linear_ramp


def image_batch(images: torch.Tensor, labels: torch.Tensor, channels_last: bool) -> Batch:
    """A batch of images, in channels_last memory format when the supernet is (the same
    values; the convolutions then skip converting their input)."""
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return Batch((images,), labels, labels.numel())


class ImageStream:
    """A `BatchStream` of (images, labels) as a stream of `Batch`es."""

    def __init__(self, stream: BatchStream, channels_last: bool = False) -> None:
        self.batches = stream
        self.channels_last = channels_last

    @property
    def steps_per_epoch(self) -> int:
        return self.batches.steps_per_pass

    def next(self) -> Batch:
        images, labels = self.batches.next()
        return image_batch(images, labels, self.channels_last)

    def carry(self, outputs: Any) -> None:
        """Image batches are independent: nothing carries over."""

    def state_dict(self) -> dict[str, Any]:
        return self.batches.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batches.load_state_dict(state)


class InOrder:
    """A split's (images, labels) batches in order as a `Pass`; nothing carries over."""

    def __init__(self, batches: Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]],
                 channels_last: bool = False) -> None:
        self.batches = batches
        self.channels_last = channels_last

    def __iter__(self) -> Iterator[Batch]:
        for images, labels in self.batches():
            yield image_batch(images, labels, self.channels_last)

    def carry(self, outputs: Any) -> None:
        """Image batches are independent."""


@dataclass(frozen=True)
class ImageDomain:
    """Image classification: the paper's CNN cells on Fashion-MNIST, CIFAR, SVHN, folders."""

    name: str = "image"
    # A dataset in memory instead of `config.dataset` (benchmarks, notebooks, your own data).
    dataset: ImageDataset | None = None

    @property
    def score(self) -> Score:
        return Score("accuracy", higher_is_better=True)

    @property
    def regularizers(self) -> dict[str, Regularizer]:
        return {"l2": Regularizer("l2", "weight_decay", 3e-2),
                "drop_path": Regularizer("drop_path", "drop_path", 0.6)}

    @property
    def layouts(self) -> tuple:
        return spaces.LAYOUTS

    @property
    def known_genotypes(self) -> dict[str, dict[str, Any]]:
        return KNOWN_GENOTYPES

    def spaces(self) -> dict[str, CellSpace]:
        return dict(spaces.BUILTIN_SPACES)

    def space(self, name: str, nodes: int | None = None) -> CellSpace:
        return spaces.get_space(name, nodes)

    # ---- data ---------------------------------------------------------------------------
    def search_data(self, config: Any, device: torch.device) -> SearchData:
        """The official training set split in two (train_portion): weights train on the first
        part with crop, flip and (per the plan) Cutout; alpha on the un-augmented rest."""
        dataset = (self.dataset if self.dataset is not None
                   else load_dataset(config.dataset, config.data_dir, download=config.download))
        if config.max_train_images is not None:
            dataset = subset(dataset, config.max_train_images, None)
        (train_x, train_y), (val_x, val_y) = split_train_val(dataset, config.train_portion)
        common = dict(mean=dataset.mean, std=dataset.std, device=device,
                      batch_size=config.batch_size)
        augmentation = Augmentation(crop_padding=config.crop_padding, flip=config.flip,
                                    cutout_length=config.cutout_length, cutout_prob=0.0)
        train = BatchStream(train_x, train_y, seed=config.seed + 1, augmentation=augmentation,
                            **common)
        val = BatchStream(val_x, val_y, seed=config.seed + 2, **common)

        def evaluation() -> InOrder:
            return InOrder(lambda: evaluation_batches(
                val.images, val.labels, batch_size=max(config.batch_size, 256),
                mean=dataset.mean, std=dataset.std, device=device), config.channels_last)

        def probe(count: int, generator: torch.Generator) -> list[Batch]:
            size = min(config.batch_size, len(val.labels))
            batches = []
            for _ in range(count):
                index = torch.randperm(len(val.labels), generator=generator)[:size]
                index = index.to(val.labels.device)
                labels = val.labels[index]
                batches.append(image_batch(normalize(val.images[index], dataset.mean,
                                                     dataset.std), labels, config.channels_last))
            return batches

        return SearchData(name=dataset.name, train=ImageStream(train, config.channels_last),
                          val=ImageStream(val, config.channels_last),
                          evaluation=evaluation, probe=probe,
                          info={"num_classes": dataset.num_classes,
                                "in_channels": dataset.in_channels,
                                "augmentation": augmentation})

    def supernet(self, space: CellSpace, config: Any, data: SearchData) -> nn.Module:
        """The one-shot network; with `channels_last` its 4-d weights in that memory format
        (the batches follow, see `image_batch`); `mixed_sum` says how its cells compute the
        mixed edges."""
        supernet = Supernet(space, C=config.channels, num_classes=data.info["num_classes"],
                            layers=config.layers, in_channels=data.info["in_channels"],
                            mixed_sum=config.mixed_sum)
        if config.channels_last:
            supernet = supernet.to(memory_format=torch.channels_last)
        return supernet

    # ---- objective and metrics ----------------------------------------------------------
    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Cross-entropy of the logits (paper Eq. 1)."""
        return F.cross_entropy(outputs, batch.targets)

    @torch.no_grad()
    def metrics(self, outputs: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        outputs = outputs.float()  # bf16 logits of an autocast weight step summed in fp32
        loss = F.cross_entropy(outputs, batch.targets)
        return {"loss_sum": loss * batch.size,
                "correct": (outputs.argmax(dim=1) == batch.targets).sum(),
                "count": torch.tensor(batch.size)}

    def summarise(self, sums: Mapping[str, float]) -> dict[str, float]:
        return {"loss": sums["loss_sum"] / sums["count"],
                "accuracy": sums["correct"] / sums["count"]}

    def penalty(self, outputs: Any) -> float:
        return 0.0

    # ---- schedules ------------------------------------------------------------------------
    def plan(self, config: Any, epoch: int, regularization: Mapping[str, float]) -> EpochPlan:
        """Cosine lr; drop path and Cutout ramped linearly (spec sections 3 and 4)."""
        cutout = (config.cutout_prob if config.cutout_schedule == "constant"
                  else linear_ramp(epoch, config.epochs, config.cutout_prob))
        drop_path = linear_ramp(epoch, config.epochs,
                                regularization.get("drop_path", config.drop_path))
        lr = cosine_lr(epoch, config.epochs, config.lr, config.lr_min)
        return EpochPlan(lr=lr, forward={"drop_path_prob": drop_path},
                         record={"lr": lr, "drop_path_prob": drop_path, "cutout_prob": cutout})

    def apply_plan(self, data: SearchData, plan: EpochPlan) -> None:
        """This epoch's Cutout probability on the training stream."""
        base: Augmentation = data.info["augmentation"]
        data.train.batches.augmentation = Augmentation(
            crop_padding=base.crop_padding, flip=base.flip, cutout_length=base.cutout_length,
            cutout_prob=plan.record["cutout_prob"])

    def benchmark(self, space: CellSpace, config: Any) -> Any:
        from rdarts.domains.image.s5 import table_for_search

        return table_for_search(config.regret_table, space, config.dataset)

    def training(self, config: Any, genotype: Genotype) -> Any:
        """Training `genotype` from scratch (spec section 10): an epoch task for the driver."""
        from rdarts.domains.image.training import build_training

        return build_training(config, genotype)

    def add_benchmark_commands(self, benchmarks: Any) -> None:
        """`rdarts bench s5 build|show|lookup`."""
        from rdarts.domains.image.bench_cli import add_benchmark_commands

        add_benchmark_commands(benchmarks)

    def epoch_text(self, record: Mapping[str, Any]) -> str:
        """The epoch line's training and one-shot validation part."""
        text = f"train loss {record['train_loss']:.3f} acc {record['train_accuracy']:.3f}"
        if "val_loss" in record:
            text += (f"  one-shot val loss {record['val_loss']:.3f} "
                     f"acc {record['val_accuracy']:.3f}")
        return text

    def check_genotype(self, genotype: Genotype) -> None:
        """Image genotypes have a normal and a reduction cell (the layouts check that when
        reading one) whose ops the image networks can build: GenotypeError naming the first op
        that is not one of ops.OP_NAMES, and the known ones."""
        for cell_type, nodes in genotype.cells.items():
            for node, edges in enumerate(nodes):
                for op, _ in edges:
                    if op not in OP_NAMES:
                        raise GenotypeError(
                            f"unknown op {op!r} in node {node} of the {cell_type} cell"
                            f"{did_you_mean(op, OP_NAMES)}; known ops: {', '.join(OP_NAMES)}")


IMAGE = ImageDomain()
