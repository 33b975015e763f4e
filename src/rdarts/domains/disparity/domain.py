"""Disparity estimation as a domain of the search core: S6, AutoDispNet-C (Zela et al.
Section 5, Appendix D).

Batches hold the left and right views and the left ground-truth disparity; the loss is the
multi-scale L1 of the predictions against the ground truth downsampled without value scaling,
at both levels and for the Hessian (whose correlation is twice differentiable here, so
lambda_max, DARTS-ES and DARTS-ADA run on S6, which the paper's CUDA correlation did not
allow). Metrics sum absolute errors and pixels; the score is the EPE in input pixels, lower
is better. The weights train on augmented batches whose augmentation is scaled by the factor
F (`augment_scale`, paper Table 3), which DARTS-ADA and R-DARTS may raise like the L2 factor
(Table 4). The data are generated flying shapes (offline), FlyingThings3D or Sintel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rdarts.core.genotype import Genotype
from rdarts.core.space import CellSpace
from rdarts.domains.base import (
    Batch,
    EpochPlan,
    Regularizer,
    Score,
    SearchData,
    refuse_image_layout_options,
)
from rdarts.domains.disparity import spaces
from rdarts.domains.disparity.augment import augment
from rdarts.domains.disparity.datasets import load_stereo
from rdarts.domains.disparity.loss import epe_sums, multiscale_loss
from rdarts.domains.disparity.network import Topology
from rdarts.domains.disparity.ops import OP_NAMES
from rdarts.domains.disparity.settings import DATASETS, DisparitySettings
from rdarts.domains.disparity.stereo import StereoSet
from rdarts.domains.disparity.stream import InOrder, StereoStream, random_batches
from rdarts.domains.disparity.supernet import DisparitySupernet
from rdarts.errors import ConfigError, GenotypeError, did_you_mean
from rdarts.schedules import cosine_lr

EVAL_BATCH = 32  # pairs per batch of the one-shot validation pass
IDENTITY_PRESET = "cpu"  # the augmentation preset whose F = 0 is no augmentation


def settings_of(config: Any) -> DisparitySettings:
    return DisparitySettings(**dict(config.domain_settings))


def topology_of(channels: int, settings: Any, nodes: int = spaces.NODES) -> Topology:
    """The network sizes of search or training settings (both have the same names)."""
    return Topology(C=channels, stem_multiplier=settings.stem_multiplier,
                    encoder_cells=settings.encoder_cells,
                    max_displacement=settings.max_displacement, one_sided=settings.one_sided,
                    nodes=nodes)


def load_pairs(dataset: str, data_dir: str | None, split: str, count: int, seed: int,
               height: int | None, width: int | None) -> StereoSet:
    """A split of a stereo dataset (flying shapes are generated, the others read)."""
    if dataset not in DATASETS:
        raise ConfigError(f"unknown disparity dataset {dataset!r}"
                          f"{did_you_mean(dataset, DATASETS)}; known: {', '.join(DATASETS)}")
    folder = None if data_dir is None else str(Path(data_dir).expanduser())
    return load_stereo(dataset, folder, split, count, seed, height, width)


@dataclass(frozen=True)
class DisparityDomain:
    """Stereo disparity with AutoDispNet-C cells (normal, reduction, upsampling)."""

    name: str = "disparity"

    @property
    def score(self) -> Score:
        return Score("epe", higher_is_better=False)

    @property
    def regularizers(self) -> dict[str, Regularizer]:
        # Table 4's L2 factors and Table 3's augmentation scaling factors; R_max: the L2
        # ceiling of DARTS-ADA on images, and Table 3's largest factor.
        return {"l2": Regularizer("l2", "weight_decay", 3e-2,
                                  grid=(3e-4, 9e-4, 27e-4, 81e-4)),
                "augment": Regularizer("augment", "augment_scale", 2.0,
                                       grid=(0.0, 0.1, 0.5, 1.0, 1.5, 2.0))}

    @property
    def layouts(self) -> tuple:
        return spaces.LAYOUTS

    @property
    def known_genotypes(self) -> dict[str, dict[str, Any]]:
        return {}  # AutoDispNet's published cells use DARTS' op set, not S6's

    def spaces(self) -> dict[str, CellSpace]:
        return dict(spaces.BUILTIN_SPACES)

    def space(self, name: str, nodes: int | None = None) -> CellSpace:
        return spaces.get_space(name, nodes)

    # ---- data ---------------------------------------------------------------------------
    def search_data(self, config: Any, device: torch.device) -> SearchData:
        """Weights on the `train` split (augmented by the epoch's F), alpha on the `val`
        split (the search's two halves); the one-shot validation on all of `val` in order;
        probes of random `val` pairs."""
        settings = settings_of(config)

        def load(split: str, count: int) -> StereoSet:
            return load_pairs(config.dataset, config.data_dir, split, count,
                              settings.data_seed, settings.height, settings.width).to(device)

        train_pairs, val_pairs = load("train", settings.train_pairs), load("val",
                                                                            settings.val_pairs)
        train = StereoStream(train_pairs, config.batch_size, config.seed + 1,
                             augment=partial(augment, preset=settings.augment_preset),
                             factor=settings.augment_scale,
                             identity_at_zero=settings.augment_preset == IDENTITY_PRESET)
        val = StereoStream(val_pairs, config.batch_size, config.seed + 3)

        def probe(count: int, generator: torch.Generator) -> list[Batch]:
            return random_batches(val_pairs, config.batch_size, count, generator)

        return SearchData(
            name=config.dataset, train=train, val=val,
            evaluation=lambda: InOrder(val_pairs, max(config.batch_size, EVAL_BATCH)),
            probe=probe,
            info={"train_pairs": len(train_pairs), "val_pairs": len(val_pairs),
                  "settings": asdict(settings)})

    def supernet(self, space: CellSpace, config: Any, data: SearchData) -> nn.Module:
        refuse_image_layout_options(config, "disparity")
        return DisparitySupernet(space, topology_of(config.channels, settings_of(config),
                                                    space.nodes))

    # ---- objective and metrics ----------------------------------------------------------
    def loss(self, outputs: Any, batch: Batch) -> torch.Tensor:
        """The multi-scale L1 loss (both levels and the Hessian)."""
        return multiscale_loss(outputs, batch.targets)

    @torch.no_grad()
    def metrics(self, outputs: Any, batch: Batch) -> dict[str, torch.Tensor]:
        loss = multiscale_loss(outputs, batch.targets)
        return {"loss_sum": loss * batch.size, "count": torch.tensor(batch.size),
                **epe_sums(outputs, batch.targets)}

    def summarise(self, sums: Mapping[str, float]) -> dict[str, float]:
        """The mean loss per pair and the EPE over all pixels with known ground truth."""
        return {"loss": sums["loss_sum"] / sums["count"],
                "epe": sums["epe_sum"] / max(sums["pixels"], 1.0)}

    def penalty(self, outputs: Any) -> float:
        return 0.0

    # ---- schedules ------------------------------------------------------------------------
    def plan(self, config: Any, epoch: int, regularization: Mapping[str, float]) -> EpochPlan:
        """Cosine lr (DARTS); the augmentation scaling factor in force (DARTS-ADA raises it)."""
        lr = cosine_lr(epoch, config.epochs, config.lr, config.lr_min)
        scale = regularization.get("augment_scale", settings_of(config).augment_scale)
        return EpochPlan(lr=lr, forward={}, record={"lr": lr, "augment_scale": scale})

    def apply_plan(self, data: SearchData, plan: EpochPlan) -> None:
        """This epoch's augmentation scaling factor on the weights' stream."""
        data.train.factor = plan.record["augment_scale"]

    def benchmark(self, space: CellSpace, config: Any) -> None:
        return None

    def training(self, config: Any, genotype: Genotype) -> Any:
        from rdarts.domains.disparity.training import build_training

        return build_training(config, genotype)

    def add_benchmark_commands(self, benchmarks: Any) -> None:
        """No tabular benchmark for S6."""

    def epoch_text(self, record: Mapping[str, Any]) -> str:
        text = f"train loss {record['train_loss']:.3f} EPE {record['train_epe']:.3f}"
        if "val_epe" in record:
            text += f"  one-shot val EPE {record['val_epe']:.3f}"
        return text

    def check_genotype(self, genotype: Genotype) -> None:
        """A disparity genotype has the three cell types, with ops the networks can build."""
        if set(genotype.cell_types) != set(spaces.CELL_TYPES):
            raise GenotypeError(f"a disparity genotype has cell types "
                                f"{', '.join(spaces.CELL_TYPES)}, got "
                                f"{', '.join(genotype.cell_types)}")
        for cell_type, nodes in genotype.cells.items():
            for node, edges in enumerate(nodes):
                for op, _ in edges:
                    if op not in OP_NAMES:
                        raise GenotypeError(
                            f"unknown op {op!r} in node {node} of the {cell_type} cell"
                            f"{did_you_mean(op, OP_NAMES)}; known ops: {', '.join(OP_NAMES)}")


DISPARITY = DisparityDomain()
