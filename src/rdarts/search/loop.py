"""The DARTS search: alternating architecture and weight steps, one epoch at a time.

`Search` holds the whole search state (one object, one `state_dict`): supernet weights and BN
statistics, alpha, both optimisers, both batch streams with their RNGs, the global RNG states,
the epoch and the regularisation in force. It knows nothing of the task: the domain supplies
the data, the supernet, the loss, the metrics and the epoch's plan (design.md). Schedules are
pure functions of the epoch, so restoring this state continues a run exactly. What a step does
is the method's choice (`rdarts.search.methods`); the epoch around the steps is this one.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import torch

from rdarts.core import hypergradient
from rdarts.core.alpha import Architecture, EdgeWeights
from rdarts.core.genotype import Genotype, derive
from rdarts.core.objective import Objective
from rdarts.domains.base import Batch, Domain, EpochPlan
from rdarts.domains.registry import get_domain
from rdarts.errors import DivergenceError
from rdarts.runtime import resolve_device, rng_state, seed_everything, set_rng_state
from rdarts.search import probe
from rdarts.search.config import SearchConfig, setting_value

Step = Callable[[Batch, Batch | None, EpochPlan], Any]  # (train, val, plan) -> outputs


class Search:
    """One DARTS search (Liu et al. 2019, Algorithm 1) with the paper's defaults."""

    def __init__(self, config: SearchConfig, domain: Domain, device: torch.device) -> None:
        self.config = config
        self.domain = domain
        self.device = device
        self.space = domain.space(config.space, config.nodes)
        seed_everything(config.seed)
        self.data = domain.search_data(config, device)
        self.supernet = domain.supernet(self.space, config, self.data).to(device)
        self.architecture = Architecture(self.space).to(device)
        self.objective = Objective(self.supernet, domain.loss, self.space.cell_types)
        self.weight_optimizer = torch.optim.SGD(self.supernet.parameters(), lr=config.lr,
                                                momentum=config.momentum,
                                                weight_decay=config.weight_decay)
        self.arch_optimizer = torch.optim.Adam(self.architecture.parameters(), lr=config.arch_lr,
                                               betas=(config.arch_beta1, config.arch_beta2),
                                               weight_decay=config.arch_weight_decay)
        self.epoch = 0  # the next epoch to run
        # Regularisers other than L2 that DARTS-ADA may raise (L2 lives in the optimiser).
        self.raised: dict[str, float] = {}
        self.top_eigenvector: torch.Tensor | None = None  # warm start for the next Lanczos run
        self.benchmark = domain.benchmark(self.space, config)  # S5: test regret per genotype

    @property
    def steps_per_epoch(self) -> int:
        return self.data.train.steps_per_epoch

    @property
    def epochs(self) -> int:
        return self.config.epochs

    def describe(self) -> str:
        return (f"search: space {self.space.name} ({self.space.num_alpha} alphas), dataset "
                f"{self.data.name}, {self.epochs} epochs x {self.steps_per_epoch} steps, "
                f"order {self.config.order}, device {self.device}")

    # ---- one iteration ------------------------------------------------------------------
    def arch_step(self, train_batch: Batch, val_batch: Batch, plan: EpochPlan) -> None:
        """alpha <- Adam step on the (first- or second-order) hypergradient."""
        alpha = self.architecture.parameters_list()
        with self.objective.watching(val_batch) as watch:
            if self.config.order == 1:
                grads = hypergradient.first_order(self.objective, alpha, val_batch,
                                                  plan.forward)
            else:
                grads = self._second_order(alpha, train_batch, val_batch, plan)
        # the alpha stream's state after its batch (an RNN's hidden state at w or w')
        self.data.val.carry(watch.outputs)
        self.arch_optimizer.zero_grad(set_to_none=True)
        for a, g in zip(alpha, grads, strict=True):
            a.grad = g
        self.arch_optimizer.step()

    def _second_order(self, alpha: list[torch.Tensor], train_batch: Batch, val_batch: Batch,
                      plan: EpochPlan) -> list[torch.Tensor]:
        """The second-order hypergradient the configuration names, with its speed options
        (autocast only where the finite difference keeps the virtual step apart)."""
        config = self.config
        options: dict[str, Any] = {"lean": config.lean_unroll}
        if config.second_order == "exact":
            second_order = hypergradient.second_order_exact
        else:
            second_order = hypergradient.second_order_finite_difference
            options["autocast"] = self._amp_dtype()
        return second_order(self.objective, alpha, train_batch, val_batch,
                            **self.virtual_step(train_batch, plan), **options)

    def virtual_step(self, train_batch: Batch, plan: EpochPlan) -> dict[str, Any]:
        """The virtual SGD step's settings at the search's state (xi, momentum buffers,
        momentum, weight decay, forward options, clip): the keywords of both second-order
        hypergradients, for the arch step and for `rdarts.search.gradcheck`."""
        config = self.config
        return {"xi": plan.lr * train_batch.lr_scale,
                "momentum_buffers": self._momentum_buffers(),
                "momentum": config.momentum, "weight_decay": self.weight_decay(),
                "forward": plan.forward,
                "grad_clip": config.grad_clip if config.virtual_step_clip else None}

    def _amp_dtype(self) -> torch.dtype | None:
        """bf16 when `amp` is on (autocast on CPU and CUDA alike), else None: fp32."""
        return torch.bfloat16 if self.config.amp else None

    def weight_step(self, train_batch: Batch, plan: EpochPlan,
                    genotype: Genotype | None = None) -> Any:
        """w <- SGD step on L_train(w, alpha) (+ the domain's penalty) with the freshly updated
        alpha held fixed, or on one sampled architecture's path (`genotype`, RS-ws)."""
        weights = None if genotype is not None else {
            k: w.detach() for k, w in self.architecture().items()}
        options = dict(plan.forward) if genotype is None else {**plan.forward,
                                                                "genotype": genotype}
        with self._autocast():
            outputs = self.supernet(*train_batch.inputs, weights, **train_batch.options,
                                    **options)
            loss = self.domain.loss(outputs, train_batch)
            penalty = self.domain.penalty(outputs)
            if isinstance(penalty, torch.Tensor) or penalty != 0.0:
                loss = loss + penalty
        for group in self.weight_optimizer.param_groups:  # truncated BPTT: seq_len / bptt
            group["lr"] = plan.lr * train_batch.lr_scale
        self.weight_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
        self.weight_optimizer.step()
        return outputs

    def _autocast(self) -> contextlib.AbstractContextManager:
        """The weight step's forward under bf16 autocast when `amp` is on: an SGD step of
        lr times a gradient tolerates bf16's 2^-8 relative error (mixed-precision training);
        the backward runs each op in its forward's dtype, the weights stay fp32."""
        dtype = self._amp_dtype()
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def train_epoch(self, step: Step | None = None, progress: Callable[[], Any] | None = None,
                    validation_batches: bool = True) -> dict[str, float]:
        """One epoch of `step` (default: DARTS' arch step then weight step); returns the plan's
        values and the running training metrics (`train_<name>`)."""
        step = self.darts_step if step is None else step
        plan = self.plan()
        self.prepare_epoch(plan)
        sums: dict[str, torch.Tensor] = {}
        for _ in range(self.steps_per_epoch):
            train_batch = self.data.train.next()
            val_batch = self.data.val.next() if validation_batches else None
            outputs = step(train_batch, val_batch, plan)
            for key, value in self.domain.metrics(outputs, train_batch).items():
                sums[key] = sums[key] + value if key in sums else value
            self.data.train.carry(outputs)
            if progress is not None:
                progress()
        summary = self.domain.summarise({k: v.item() for k, v in sums.items()})
        self.check_finite(summary["loss"])
        return {**plan.record, **{f"train_{k}": v for k, v in summary.items()}}

    def darts_step(self, train_batch: Batch, val_batch: Batch | None, plan: EpochPlan) -> Any:
        """DARTS: the architecture step on the validation batch, then the weight step."""
        assert val_batch is not None
        self.arch_step(train_batch, val_batch, plan)
        return self.weight_step(train_batch, plan)

    def plan(self) -> EpochPlan:
        return self.domain.plan(self.config, self.epoch, self.regularization())

    def prepare_epoch(self, plan: EpochPlan) -> None:
        """Apply the epoch's learning rate and data plan (Cutout); training mode."""
        for group in self.weight_optimizer.param_groups:
            group["lr"] = plan.lr
        self.domain.apply_plan(self.data, plan)
        self.supernet.train()

    def check_finite(self, train_loss: float) -> None:
        alpha_finite = all(bool(torch.isfinite(a).all())
                           for a in self.architecture.parameters_list())
        if not math.isfinite(train_loss) or not alpha_finite:
            raise DivergenceError(f"the training loss became {train_loss} in epoch {self.epoch}")

    # ---- regularisation (spec sections 4 and 7) -----------------------------------------
    def weight_decay(self) -> float:
        return self.weight_optimizer.param_groups[0]["weight_decay"]

    def regularization(self) -> dict[str, float]:
        """The regularisation in force: L2 and the domain's raised regularisers."""
        values = {"weight_decay": self.weight_decay()}
        for regularizer in self.domain.regularizers.values():
            if regularizer.setting != "weight_decay":
                values[regularizer.setting] = self.raised.get(
                    regularizer.setting, setting_value(self.config, regularizer.setting))
        return values

    def set_regularization(self, **values: float) -> None:
        """Change the L2 factor (used by both the SGD step and the second-order unrolled
        step) or another of the domain's regularisers from now on."""
        for name, value in values.items():
            if name == "weight_decay":
                for group in self.weight_optimizer.param_groups:
                    group["weight_decay"] = value
            else:
                self.raised[name] = value

    # ---- evaluation ---------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, weights: EdgeWeights | None = None) -> dict[str, float]:
        """One-shot validation metrics (`val_<name>`) on the alpha split, BN in eval mode.

        With `weights` (e.g. a genotype's one-hot encoding) this evaluates the discretised
        one-shot model of the paper's Section 6.
        """
        weights = self.architecture() if weights is None else weights
        weights = {k: w.to(self.device) for k, w in weights.items()}
        was_training = self.supernet.training
        self.supernet.eval()
        sums: dict[str, float] = {}
        evaluation = self.data.evaluation()
        for index, batch in enumerate(evaluation):
            if self.config.val_batches is not None and index >= self.config.val_batches:
                break
            outputs = self.supernet(*batch.inputs, weights)
            for key, value in self.domain.metrics(outputs, batch).items():
                sums[key] = sums.get(key, 0.0) + value.item()
            evaluation.carry(outputs)
        self.supernet.train(was_training)
        return {f"val_{k}": v for k, v in self.domain.summarise(sums).items()}

    def genotype(self) -> Genotype:
        return derive(self.architecture(), self.space)

    def alpha_softmax(self) -> dict[str, list[list[float]]]:
        """softmax(alpha) per cell type, rounded for the metrics line."""
        return {k: [[round(x, 6) for x in row] for row in w.detach().cpu().tolist()]
                for k, w in self.architecture().items()}

    def benchmark_fields(self, genotype: dict[str, Any]) -> dict[str, Any]:
        """`test_regret` and the table entry of a genotype when a table is in use (else {})."""
        if self.benchmark is None:
            return {}
        found = self.benchmark.lookup(genotype)
        return {"test_regret": found["test_regret"], "benchmark": found}

    # ---- curvature (spec section 5; rdarts.search.probe) --------------------------------
    def curvature_due(self) -> bool:
        every = self.config.hessian_every
        return every > 0 and ((self.epoch + 1) % every == 0 or self.epoch + 1 == self.config.epochs)

    def curvature_batches(self, count: int, epoch: int | None = None) -> list[Batch]:
        return probe.probe_batches(self, count, epoch)

    def measure_curvature(self, batches: int | None = None, with_spectrum: bool = False,
                          mode: str | None = None, shift: bool | None = None) -> dict[str, Any]:
        return probe.measure(self, batches, with_spectrum, mode, shift)

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
            "train_stream": self.data.train.state_dict(),
            "val_stream": self.data.val.state_dict(),
            "rng": rng_state(self.device),
            "top_eigenvector": self.top_eigenvector,
            "raised": dict(self.raised),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.supernet.load_state_dict(state["supernet"])
        self.architecture.load_state_dict(state["architecture"])
        self.weight_optimizer.load_state_dict(state["weight_optimizer"])
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.data.train.load_state_dict(state["train_stream"])
        self.data.val.load_state_dict(state["val_stream"])
        set_rng_state(state["rng"], self.device)
        self.top_eigenvector = state.get("top_eigenvector")
        self.raised = dict(state.get("raised", {}))

    def _momentum_buffers(self) -> dict[str, torch.Tensor]:
        state = self.weight_optimizer.state
        buffers = {}
        for name, p in self.supernet.named_parameters():
            m = state.get(p, {}).get("momentum_buffer")
            if m is not None:
                buffers[name] = m
        return buffers


def build_search(config: SearchConfig) -> Search:
    """A search of `config` in its domain, on its device."""
    return Search(config, get_domain(config.domain), resolve_device(config.device))
