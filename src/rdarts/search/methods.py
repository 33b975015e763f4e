"""The paper's methods as thin drivers over `Search` (design.md: composition, not modes).

- DARTS: the search as it is.
- DARTS-ES (Section 4.2, spec 6): the search plus the stopping rule on lambda_max.
- DARTS-ADA (Section 7.1, Algorithm 1, spec 7): DARTS-ES whose trigger rolls the whole search
  state back to the returned epoch and continues with the regulariser multiplied by eta.
- RS-ws (Li & Talwalkar 2019, spec 9): the supernet trained on one uniformly sampled
  architecture per step, then random architectures scored with the shared weights.

Each wrapper is an `EpochTask` for `rdarts.driver.run_epochs`; its `state_dict` extends the
search's, so resume and rollback restore everything, the stopping rule included.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import torch
from torch.func import functional_call
from tqdm import tqdm

from rdarts.core.genotype import Genotype, genotype_from_dict, sample_genotype
from rdarts.core.hypergradient import scratch_buffers
from rdarts.errors import ConfigError, RunDirError
from rdarts.runs.driver import SearchOutcome, run_epochs
from rdarts.runs.rundir import RunDir, atomic_write_text
from rdarts.search.config import SearchConfig
from rdarts.search.loop import Search, build_search, regret_text
from rdarts.search.stopping import EarlyStopping, rule_from_options

ADA_DEFAULT_MAX = {"l2": 3e-2, "drop_path": 0.6}


class SearchMethod:
    """Delegates the `EpochTask` interface to a `Search`; subclasses add one concern each."""

    def __init__(self, search: Search) -> None:
        self.search = search

    @property
    def epoch(self) -> int:
        return self.search.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.search.epoch = value

    @property
    def device(self) -> torch.device:
        return self.search.device

    @property
    def epochs(self) -> int:
        return self.search.epochs

    @property
    def steps_per_epoch(self) -> int:
        return self.search.steps_per_epoch

    @property
    def finished(self) -> bool:
        return False

    def between_epochs(self, run_dir: RunDir) -> None:
        """Nothing by default."""

    def describe(self) -> str:
        return f"{self.search.config.method} {self.search.describe()}"

    def run_epoch(self, progress: Callable[..., Any] | None = None) -> dict[str, Any]:
        return self.search.run_epoch(progress)

    def epoch_line(self, record: dict[str, Any]) -> str:
        return self.search.epoch_line(record)

    def write_epoch_files(self, run_dir: RunDir) -> None:
        self.search.write_epoch_files(run_dir)

    def summary(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """result.json: the method's summary, plus the test regret of the returned genotype
        (and of the DARTS-ES one) when a tabular benchmark is in use."""
        result = self.method_summary(records)
        result.update(self.search.benchmark_fields(result["genotype"]))
        stop = result.get("early_stopping") or {}
        if stop.get("genotype") is not None:
            stop.update(self.search.benchmark_fields(stop["genotype"]))
        return result

    def method_summary(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return {"method": self.search.config.method, **self.search.summary(records)}

    def state_dict(self) -> dict[str, Any]:
        return self.search.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.search.load_state_dict(state)

    def genotype(self) -> Genotype:
        return self.search.genotype()


class EarlyStoppedSearch(SearchMethod):
    """DARTS-ES: stop when the smoothed lambda_max has grown too much, and return the
    architecture of the earlier epoch (paper Section 4.2). With `simulate`, the decision is
    recorded and the search runs on, so one run yields DARTS and DARTS-ES results."""

    def __init__(self, search: Search, stopping: EarlyStopping) -> None:
        super().__init__(search)
        config = search.config
        self.stopping = stopping
        period = stopping.rule.period
        if config.hessian_every != period:
            raise ConfigError(
                f"the early-stopping rule reads lambda_max every {period} epoch(s); "
                f"pass --hessian-every {period} (got {config.hessian_every})")

    @property
    def finished(self) -> bool:
        return self.stopping.trigger is not None and not self.stopping.simulate

    def run_epoch(self, progress: Callable[..., Any] | None = None) -> dict[str, Any]:
        record = self.search.run_epoch(progress)
        epoch = self.search.epoch
        if "lambda_max" in record:
            trigger = self.stopping.observe(epoch, record["lambda_max"], record["genotype"])
            smoothed = dict(self.stopping.smoothed_history())
            record["lambda_bar_history"] = [[e, v] for e, v in smoothed.items() if v is not None]
            if trigger is not None:
                record["early_stop"] = dataclasses.asdict(trigger)
        else:
            self.stopping.record_genotype(epoch, record["genotype"])
        return record

    def epoch_line(self, record: dict[str, Any]) -> str:
        line = self.search.epoch_line(record)
        if "early_stop" in record:
            stop = record["early_stop"]
            line += (f"  early stop: return epoch {stop['return_epoch']} "
                     f"(ratio {stop['ratio']:.3f})")
        return line

    def method_summary(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        result = super().method_summary(records)
        trigger = self.stopping.trigger
        if trigger is None:
            result["early_stopping"] = {"triggered": False}
            return result
        es_genotype = self.stopping.genotype_at(trigger.return_epoch)
        result["early_stopping"] = {"triggered": True, **dataclasses.asdict(trigger),
                                    "genotype": es_genotype, "simulated": self.stopping.simulate}
        if not self.stopping.simulate:
            result["genotype"] = es_genotype
            result["stopped_at_epoch"] = trigger.decided_at
        return result

    def genotype(self) -> Genotype:
        trigger = self.stopping.trigger
        if trigger is not None and not self.stopping.simulate:
            return genotype_from_dict(self.stopping.genotype_at(trigger.return_epoch))
        return self.search.genotype()

    def write_epoch_files(self, run_dir: RunDir) -> None:
        if self.finished:
            from rdarts.core.genotype import save_genotype

            save_genotype(self.genotype(), run_dir.file("genotype.json"))
        else:
            self.search.write_epoch_files(run_dir)

    def state_dict(self) -> dict[str, Any]:
        return {**self.search.state_dict(), "stopping": self.stopping.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.search.load_state_dict(state)
        self.stopping.load_state_dict(state["stopping"])


class AdaptiveSearch(EarlyStoppedSearch):
    """DARTS-ADA (paper Algorithm 1): on a trigger, restore the complete state of the returned
    epoch (weights, BN statistics, alpha, optimisers, stopping history, RNGs) and continue the
    remaining epochs with the regulariser R multiplied by eta, while eta * R <= R_max."""

    def __init__(self, search: Search, stopping: EarlyStopping, regularizer: str, eta: float,
                 r_max: float) -> None:
        super().__init__(search, stopping)
        self.regularizer = regularizer
        self.eta = eta
        self.r_max = r_max
        self.rollbacks: list[dict[str, Any]] = []
        self.ignored_triggers: list[dict[str, Any]] = []
        if regularizer == "drop_path" and search.config.drop_path <= 0:
            raise ConfigError("DARTS-ADA on drop_path needs a starting --drop-path > 0")

    @property
    def value(self) -> float:
        key = "weight_decay" if self.regularizer == "l2" else "drop_path"
        return self.search.regularization()[key]

    def _next_value(self) -> float | None:
        new = self.value * self.eta
        return new if new <= self.r_max * (1 + 1e-9) else None

    @property
    def finished(self) -> bool:
        return False  # a trigger either rolls back or, past R_max, is ignored (Algorithm 1)

    def between_epochs(self, run_dir: RunDir) -> None:
        trigger = self.stopping.trigger
        if trigger is None:
            return
        new = self._next_value()
        if new is None:  # R_max reached: Algorithm 1 ignores the trigger and searches on
            self.ignored_triggers.append({**dataclasses.asdict(trigger), "value": self.value})
            self.stopping.trigger = None
            return
        self._rollback(run_dir, trigger.return_epoch, new, trigger)

    def _rollback(self, run_dir: RunDir, epoch: int, new: float, trigger: Any) -> None:
        entry = {"rollback": len(self.rollbacks) + 1, "decided_at": trigger.decided_at,
                 "to_epoch": epoch, "regularizer": self.regularizer, "old": self.value,
                 "new": new, "lambda_bar_earlier": trigger.lambda_bar_earlier,
                 "lambda_bar_later": trigger.lambda_bar_later}
        log = [*self.rollbacks, entry]
        try:
            state = run_dir.load_checkpoint(map_location=self.device, epoch=epoch)
        except RunDirError as error:
            raise RunDirError(f"DARTS-ADA cannot roll back: {error}") from None
        self.load_state_dict(state)
        self.rollbacks = log
        if self.regularizer == "l2":
            self.search.set_regularization(weight_decay=new)
        else:
            self.search.set_regularization(drop_path=new)
        _archive_superseded(run_dir, epoch, entry["rollback"])
        run_dir.trim_metrics(epoch + 1)
        atomic_write_text(run_dir.file("rollbacks.json"), json.dumps(log, indent=2) + "\n")
        run_dir.save_checkpoint(self.state_dict())

    def describe(self) -> str:
        return (f"{super().describe()}; adapting {self.regularizer} from {self.value:g} by "
                f"x{self.eta:g} up to {self.r_max:g}")

    def method_summary(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        result = super().method_summary(records)
        result["rollbacks"] = self.rollbacks
        result["ignored_triggers"] = self.ignored_triggers
        result["final_regularization"] = {self.regularizer: self.value}
        return result

    def genotype(self) -> Genotype:
        return self.search.genotype()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rollbacks": self.rollbacks,
                "ignored_triggers": self.ignored_triggers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rollbacks = list(state.get("rollbacks", []))
        self.ignored_triggers = list(state.get("ignored_triggers", []))


def _archive_superseded(run_dir: RunDir, epoch: int, rollback: int) -> None:
    """Move the metrics lines after `epoch` to metrics-superseded.jsonl, tagged with the
    rollback; idempotent, so a rollback redone after a kill does not duplicate them."""
    path = run_dir.file("metrics-superseded.jsonl")
    kept = []
    if path.exists():
        kept = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        kept = [record for record in kept if record.get("rollback") != rollback]
    kept += [{"rollback": rollback, **r} for r in run_dir.read_metrics() if r["epoch"] > epoch]
    atomic_write_text(path, "".join(json.dumps(record) + "\n" for record in kept))


class RandomSearchWS(SearchMethod):
    """RS-ws: train the supernet on one uniformly sampled architecture per step (same
    optimiser and budget as DARTS), then score `rs_samples` random architectures on a few
    validation batches and re-score the best `rs_top` on the whole validation split."""

    def __init__(self, search: Search) -> None:
        super().__init__(search)
        self.generator = torch.Generator().manual_seed(search.config.seed + 3)
        self.best: dict[str, Any] | None = None

    def run_epoch(self, progress: Callable[..., Any] | None = None) -> dict[str, Any]:
        search = self.search
        settings = search.settings()
        search.prepare_epoch(settings)
        loss_sum = torch.zeros((), device=search.device)
        correct = torch.zeros((), device=search.device, dtype=torch.long)
        seen = 0
        for _ in range(search.steps_per_epoch):
            genotype = sample_genotype(search.space, self.generator)
            batch = search.train_stream.next()
            step_loss, step_correct = search.weight_step(batch, settings, genotype)
            loss_sum += step_loss
            correct += step_correct
            seen += batch[1].numel()
            if progress is not None:
                progress()
        train_loss = loss_sum.item() / seen
        search.check_finite(train_loss)
        record = {"lr": settings.lr, "drop_path_prob": settings.drop_path_prob,
                  "train_loss": train_loss, "train_accuracy": correct.item() / seen}
        every = search.config.rs_choose_every
        if every and (search.epoch + 1) % every == 0:
            # The choice RS-ws would return if the search stopped now (paper Figure 2 follows
            # it over the epochs); scoring leaves the search path untouched.
            chosen = self.choose()
            if search.epoch + 1 == self.epochs:
                self.best = chosen  # the final answer: `choose` would repeat the same scoring
            record["genotype"] = chosen["genotype"]
            record["rs_val_accuracy"] = chosen["val_accuracy"]
            record.update(search.benchmark_fields(chosen["genotype"]))
        return record

    def epoch_line(self, record: dict[str, Any]) -> str:
        chosen = (f"  chosen val acc {record['rs_val_accuracy']:.3f}"
                  if "rs_val_accuracy" in record else "")
        return (f"train loss {record['train_loss']:.3f} acc {record['train_accuracy']:.3f}  "
                f"lr {record['lr']:.4f}{chosen}{regret_text(record)}")

    def write_epoch_files(self, run_dir: RunDir) -> None:
        """The architecture is chosen only after training (see `summary`)."""

    @torch.no_grad()
    def score(self, genotype: Genotype, batches: list[tuple[torch.Tensor, torch.Tensor]]
              ) -> float:
        """Accuracy of one architecture with the shared weights; BN uses batch statistics on
        scratch buffers (non-affine BN after weight sharing has no per-architecture running
        statistics worth trusting, and the supernet's own stay untouched)."""
        supernet = self.search.supernet
        supernet.train()
        correct, seen = 0, 0
        for images, labels in batches:
            state = {**scratch_buffers(supernet), **dict(supernet.named_parameters())}
            logits = functional_call(supernet, state, (images, None),
                                     {"genotype": genotype})
            correct += (logits.argmax(dim=1) == labels).sum().item()
            seen += labels.numel()
        return correct / seen

    def choose(self, quiet: bool = True) -> dict[str, Any]:
        """The two-round scoring of spec section 9; deterministic given the seed.

        `rs_samples` architectures are drawn uniformly; each distinct one is scored once (in a
        small space such as S5's 81 a thousand draws repeat architectures, and a repeat would
        score the same and crowd the re-scored top out of distinct candidates).

        The first round's batches are those of the last trained epoch, so the choice after the
        search equals the one logged after its final epoch (`rs_choose_every`)."""
        config = self.search.config
        generator = torch.Generator().manual_seed(config.seed + 4)
        drawn = [sample_genotype(self.search.space, generator) for _ in range(config.rs_samples)]
        distinct: dict[str, Genotype] = {}
        for genotype in drawn:  # first appearance order
            distinct.setdefault(json.dumps(genotype.to_dict()), genotype)
        samples = list(distinct.values())
        rng_state = torch.get_rng_state()
        last_trained = min(self.search.epoch, config.epochs - 1)
        first = self.search.curvature_batches(config.rs_score_batches, epoch=last_trained)
        scores = [self.score(g, first) for g in tqdm(samples, desc="scoring", leave=False,
                                                     disable=quiet)]
        order = sorted(range(len(samples)), key=lambda i: -scores[i])[: config.rs_top]
        full = list(self.search.validation_batches())
        rescored = [(self.score(samples[i], full), i) for i in order]
        best_score, best = max(rescored, key=lambda pair: (pair[0], -pair[1]))
        torch.set_rng_state(rng_state)
        return {"genotype": samples[best].to_dict(), "val_accuracy": best_score,
                "first_round_accuracy": scores[best], "sampled": len(drawn),
                "scored": len(samples),
                "top": [{"genotype": samples[i].to_dict(), "first_round": scores[i],
                         "val_accuracy": s} for s, i in rescored]}

    def method_summary(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        if self.best is None:
            self.best = self.choose()
        return {"method": "rs-ws", "space": self.search.space.name, "epochs": self.epochs,
                "genotype": self.best["genotype"], "rs_ws": self.best,
                "search_seconds": round(sum(r["seconds"] for r in records), 3)}

    def genotype(self) -> Genotype:
        if self.best is None:
            self.best = self.choose()
        return genotype_from_dict(self.best["genotype"])

    def state_dict(self) -> dict[str, Any]:
        return {**self.search.state_dict(), "rs_generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.search.load_state_dict(state)
        self.generator.set_state(state["rs_generator"])


def build_method(config: SearchConfig, search: Search | None = None) -> SearchMethod:
    """The driver object of `config.method` around a (new) search."""
    search = build_search(config) if search is None else search
    if config.method == "darts":
        return SearchMethod(search)
    if config.method == "rs-ws":
        return RandomSearchWS(search)
    rule = rule_from_options(config.es_preset, window=config.es_window, lag=config.es_lag,
                             threshold=config.es_threshold, burn_in=config.es_burn_in)
    if config.method == "darts-es":
        return EarlyStoppedSearch(search, EarlyStopping(rule, simulate=config.es_simulate))
    r_max = ADA_DEFAULT_MAX[config.ada_regularizer] if config.ada_max is None else config.ada_max
    return AdaptiveSearch(search, EarlyStopping(rule), config.ada_regularizer, config.ada_eta,
                          r_max)


def run_method(config: SearchConfig, out: str | Path, *, resume: bool = False,
               overwrite: bool = False, quiet: bool = False,
               log: TextIO | None = None) -> SearchOutcome:
    """Run (or continue) `config.method` into the run directory `out`."""
    method = build_method(config)
    save_every = 1 if config.method == "darts-ada" else config.save_every
    outcome = run_epochs(method, config.to_dict(), config.seed, out, resume=resume,
                         overwrite=overwrite, quiet=quiet, save_every=save_every, log=log)
    genotype = method.genotype()
    if isinstance(method, RandomSearchWS | EarlyStoppedSearch):
        from rdarts.core.genotype import save_genotype

        save_genotype(genotype, Path(out) / "genotype.json")
    return SearchOutcome(run_dir=outcome.run_dir, result=outcome.result, genotype=genotype)
