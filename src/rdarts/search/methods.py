"""The paper's methods as strategies composed into one search loop (design.md).

A method says what one step does, what it adds to an epoch's record, what happens between
epochs, when it is finished and which genotype it answers; the epoch around the steps is the
search's (`Search.train_epoch`), the same for every method and domain.

- DARTS: the arch step then the weight step; one-shot validation, lambda_max and the genotype
  after every epoch.
- DARTS-ES (Section 4.2, spec 6): DARTS plus the stopping rule on lambda_max; with `simulate`
  the decision is recorded and the search runs on, so one run yields DARTS and DARTS-ES.
- DARTS-ADA (Section 7.1, Algorithm 1, spec 7): DARTS-ES whose trigger rolls the whole search
  state back to the returned epoch and continues with the regulariser multiplied by eta.
- RS-ws (Li & Talwalkar 2019, spec 9): `rdarts.search.random_ws`.

Every method is declared once in `METHODS` (`rdarts.search.registry`): its name, its
preconditions and the settings it reads.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from rdarts.core.genotype import Genotype, genotype_from_dict, save_genotype
from rdarts.domains.base import Batch, EpochPlan
from rdarts.errors import RunDirError
from rdarts.runs.atomic import atomic_write_text
from rdarts.runs.driver import load_task_state
from rdarts.runs.records import MetricsLine, SearchResult
from rdarts.runs.rundir import RunDir
from rdarts.search.gradcheck import check_due, hypergradient_agreement
from rdarts.search.stopping import EarlyStopping, Trigger

if TYPE_CHECKING:
    from rdarts.search.loop import Search
    from rdarts.search.task import SearchTask


def regret_text(record: dict[str, Any]) -> str:
    """The epoch line's test regret (in percentage points), when the record has one."""
    if record.get("test_regret") is None:
        return ""
    return (f"  test regret {100 * record['test_regret']:.2f} "
            f"({record['benchmark']['architecture']})")


class Darts:
    """DARTS (Liu et al. 2019, Algorithm 1) with the paper's curvature tracking."""

    name = "darts"
    validation_batches = True  # each step draws an alpha batch

    def step(self, search: Search, train_batch: Batch, val_batch: Batch | None,
             plan: EpochPlan) -> Any:
        return search.darts_step(train_batch, val_batch, plan)

    def end_epoch(self, search: Search, record: MetricsLine) -> None:
        """One-shot validation, lambda_max when due, softmax(alpha) and the genotype."""
        record.update(search.evaluate())
        if search.curvature_due():
            record.update(search.measure_curvature())
        if check_due(search):
            record["hypergradient_check"] = hypergradient_agreement(search)
        record["alpha_softmax"] = search.alpha_softmax()
        record["genotype"] = search.genotype().to_dict()
        record.update(search.benchmark_fields(record["genotype"]))

    def between_epochs(self, task: SearchTask, run_dir: RunDir) -> None:
        """Nothing to do between epochs (DARTS-ADA rolls back here)."""

    @property
    def finished(self) -> bool:
        return False

    def answer(self, search: Search) -> Genotype:
        return search.genotype()

    def describe(self) -> str:
        return ""

    def epoch_text(self, search: Search, record: dict[str, Any]) -> str:
        curvature_text = (f"  lambda_max {record['lambda_max']:.4f}"
                          if "lambda_max" in record else "")
        return (f"{search.domain.epoch_text(record)}  lr {record['lr']:.4f}{curvature_text}"
                f"{regret_text(record)}")

    def write_epoch_files(self, search: Search, run_dir: RunDir) -> None:
        save_genotype(self.answer(search), run_dir.file("genotype.json"))

    def summary(self, search: Search, records: list[MetricsLine]) -> SearchResult:
        """result.json: the method, the answer, the final metrics, the cost, and the test
        regret of the returned genotype when a tabular benchmark is in use."""
        final = records[-1] if records else {}
        keys = [k for k in final if k.startswith(("train_", "val_"))] + ["lambda_max"]
        result: SearchResult = {"method": search.config.method, "space": search.space.name,
                                "epochs": search.epochs,
                                "genotype": self.answer(search).to_dict(),
                                "final": {k: final[k] for k in keys if k in final},
                                "search_seconds": round(sum(r["seconds"] for r in records), 3),
                                "score": search.domain.score.to_dict()}
        result.update(search.benchmark_fields(result["genotype"]))
        return result

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """DARTS keeps no state of its own."""


class DartsEs(Darts):
    """DARTS-ES: stop when the smoothed lambda_max has grown too much, and return the
    architecture of the earlier epoch (paper Section 4.2)."""

    name = "darts-es"

    def __init__(self, stopping: EarlyStopping) -> None:
        self.stopping = stopping

    def end_epoch(self, search: Search, record: MetricsLine) -> None:
        super().end_epoch(search, record)
        if "lambda_max" in record:
            trigger = self.stopping.observe(search.epoch, record["lambda_max"],
                                            record["genotype"])
            smoothed = dict(self.stopping.smoothed_history())
            record["lambda_bar_history"] = [[e, v] for e, v in smoothed.items() if v is not None]
            if trigger is not None:
                record["early_stop"] = dataclasses.asdict(trigger)
        else:
            self.stopping.record_genotype(search.epoch, record["genotype"])

    @property
    def finished(self) -> bool:
        return self.stopping.trigger is not None and not self.stopping.simulate

    def answer(self, search: Search) -> Genotype:
        if self.finished:
            trigger = self.stopping.trigger
            assert trigger is not None
            return genotype_from_dict(self.stopping.genotype_at(trigger.return_epoch),
                                      layouts=search.domain.layouts)
        return search.genotype()

    def epoch_text(self, search: Search, record: dict[str, Any]) -> str:
        line = super().epoch_text(search, record)
        if "early_stop" in record:
            stop = record["early_stop"]
            line += (f"  early stop: return epoch {stop['return_epoch']} "
                     f"(ratio {stop['ratio']:.3f})")
        return line

    # DARTS-ES's answer, apart from genotype.json (which stays the search's current genotype
    # while a simulated rule lets the search run on); None: not written (DARTS-ADA).
    es_genotype_file: str | None = "genotype_es.json"

    def write_epoch_files(self, search: Search, run_dir: RunDir) -> None:
        super().write_epoch_files(search, run_dir)
        trigger = self.stopping.trigger
        if trigger is not None and self.es_genotype_file is not None:
            es_genotype = self.stopping.genotype_at(trigger.return_epoch)
            atomic_write_text(run_dir.file(self.es_genotype_file),
                              json.dumps(es_genotype, indent=2) + "\n")

    def summary(self, search: Search, records: list[MetricsLine]) -> SearchResult:
        result = super().summary(search, records)
        trigger = self.stopping.trigger
        if trigger is None:
            result["early_stopping"] = {"triggered": False}
            return result
        es_genotype = self.stopping.genotype_at(trigger.return_epoch)
        result["early_stopping"] = {"triggered": True, **dataclasses.asdict(trigger),
                                    "genotype": es_genotype, "simulated": self.stopping.simulate,
                                    **search.benchmark_fields(es_genotype)}
        if not self.stopping.simulate:
            result["stopped_at_epoch"] = trigger.decided_at
        return result

    def state_dict(self) -> dict[str, Any]:
        return {"stopping": self.stopping.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stopping.load_state_dict(state["stopping"])


class DartsAda(DartsEs):
    """DARTS-ADA (paper Algorithm 1): on a trigger, restore the complete state of the returned
    epoch (weights, BN statistics, alpha, optimisers, stopping history, RNGs) and continue the
    remaining epochs with the regulariser R multiplied by eta, while eta * R <= R_max."""

    name = "darts-ada"
    es_genotype_file = None  # a trigger rolls back; the answer is the final genotype

    def __init__(self, stopping: EarlyStopping, setting: str, label: str, eta: float,
                 r_max: float) -> None:
        super().__init__(stopping)
        self.setting = setting  # the search setting adapted (weight_decay, drop_path)
        self.label = label  # its name in the logs (l2, drop_path)
        self.eta = eta
        self.r_max = r_max
        self.rollbacks: list[dict[str, Any]] = []
        self.ignored_triggers: list[dict[str, Any]] = []

    @property
    def finished(self) -> bool:
        return False  # a trigger either rolls back or, past R_max, is ignored (Algorithm 1)

    def answer(self, search: Search) -> Genotype:
        return search.genotype()

    def value(self, search: Search) -> float:
        return search.regularization()[self.setting]

    def between_epochs(self, task: SearchTask, run_dir: RunDir) -> None:
        trigger = self.stopping.trigger
        if trigger is None:
            return
        value = self.value(task.search)
        new = value * self.eta
        if new > self.r_max * (1 + 1e-9):  # R_max reached: Algorithm 1 searches on
            self.ignored_triggers.append({**dataclasses.asdict(trigger), "value": value})
            self.stopping.trigger = None
            return
        self._rollback(task, run_dir, trigger, value, new)

    def _rollback(self, task: SearchTask, run_dir: RunDir, trigger: Trigger, old: float,
                  new: float) -> None:
        """Restore the state of the returned epoch and raise the regulariser, then write.

        The writes are ordered so that a kill between any two loses nothing: (1) the lines
        about to be superseded are archived (merged, so a redo adds nothing twice), (2)
        rollbacks.json, (3) checkpoint.pt, the commit point: before it a resume redoes this
        rollback from the triggering epoch's checkpoint, after it the resume continues from
        the rolled-back state; (4) metrics.jsonl is trimmed last, so until the commit its lines
        are all still there (and after it, a resume trims them itself).
        """
        epoch = trigger.return_epoch
        entry = {"rollback": len(self.rollbacks) + 1, "decided_at": trigger.decided_at,
                 "to_epoch": epoch, "regularizer": self.label, "old": old, "new": new,
                 "lambda_bar_earlier": trigger.lambda_bar_earlier,
                 "lambda_bar_later": trigger.lambda_bar_later}
        log = [*self.rollbacks, entry]
        try:
            state = run_dir.load_checkpoint(map_location=task.device, epoch=epoch)
        except RunDirError as error:
            raise RunDirError(f"DARTS-ADA cannot roll back: {error}") from None
        load_task_state(task, state, run_dir.epoch_checkpoint(epoch))
        self.rollbacks = log
        task.search.set_regularization(**{self.setting: new})
        _archive_superseded(run_dir, epoch, entry["rollback"])
        run_dir.write_json("rollbacks.json", log)
        run_dir.save_checkpoint(task.state_dict())
        run_dir.trim_metrics(epoch + 1)

    def describe(self) -> str:
        return f"; adapting {self.label} by x{self.eta:g} up to {self.r_max:g}"

    def summary(self, search: Search, records: list[MetricsLine]) -> SearchResult:
        result = super().summary(search, records)
        result["rollbacks"] = self.rollbacks
        result["ignored_triggers"] = self.ignored_triggers
        result["final_regularization"] = {self.label: self.value(search)}
        return result

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rollbacks": self.rollbacks,
                "ignored_triggers": self.ignored_triggers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rollbacks = list(state.get("rollbacks", []))
        self.ignored_triggers = list(state.get("ignored_triggers", []))


def _archive_superseded(run_dir: RunDir, epoch: int, rollback: int) -> None:
    """Copy the metrics lines after `epoch` to metrics-superseded.jsonl, tagged with the
    rollback. Lines already archived stay; a line is added once per (rollback, epoch), so a
    rollback redone after a kill neither duplicates nor drops any."""
    name = "metrics-superseded.jsonl"
    archived = run_dir.read_lines(name)
    known = {(r.get("rollback"), r.get("epoch")) for r in archived}
    added = [{"rollback": rollback, **r} for r in run_dir.read_metrics()
             if r["epoch"] > epoch and (rollback, r["epoch"]) not in known]
    run_dir.write_lines(name, archived + added)
