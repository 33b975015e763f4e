"""Training a recurrent cell from scratch: DARTS' evaluation with NT-ASGD (spec section 5).

SGD at lr 20 (scaled per step by seq_len / bptt, the window length jittered as
clip(int(N(bptt', 5)), 5, bptt + 20)), weight decay 8e-7, gradient clipping 0.25, the five
dropouts and TAR; after each epoch the validation loss (with the averaged weights once ASGD
runs) decides: keep the best weights, and switch to ASGD(t0 = 0, lambd = 0) once the loss is
worse than the best of all but the last `nonmono` epochs (non-monotonic trigger, Merity et al.
2018). A NaN loss rolls back to the best weights. The last epoch reports the best weights'
validation perplexity and, unless `eval: holdout`, their test perplexity at
`test_batch_size` (1 in the paper). Perplexities are over the true number of predicted tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from rdarts.core.genotype import Genotype
from rdarts.domains.language.corpus import Corpus, batchify
from rdarts.domains.language.model import CellNetwork, Dropouts, count_parameters
from rdarts.domains.language.settings import LanguageTrainConfig
from rdarts.domains.language.stream import InOrder, WindowStream
from rdarts.errors import DivergenceError
from rdarts.runs.records import MetricsLine, TrainingResult
from rdarts.runs.rundir import RunDir
from rdarts.runtime import resolve_device, rng_state, seed_everything, set_rng_state


def _prefix(tokens: torch.Tensor, count: int | None) -> torch.Tensor:
    return tokens if count is None else tokens[:count]


class LanguageTraining:
    """The state of one training (one `state_dict`, exact resume): an `EpochTask`."""

    def __init__(self, config: LanguageTrainConfig, genotype: Genotype, corpus: Corpus,
                 device: torch.device) -> None:
        self.config, self.genotype, self.device = config, genotype, device
        seed_everything(config.seed)
        self.corpus = corpus
        size = config.hidden_size
        rows = batchify(_prefix(corpus.train, config.train_tokens), config.batch_size)
        self.train_stream = WindowStream(rows.to(device), config.bptt, "train",
                                         config.seed + 1, size)
        self.splits = {"val": batchify(_prefix(corpus.valid, config.eval_tokens),
                                       config.eval_batch_size).to(device)}
        if config.eval == "test":
            self.splits["test"] = batchify(_prefix(corpus.test, config.eval_tokens),
                                           config.test_batch_size).to(device)
        dropouts = Dropouts(config.dropout, config.dropouth, config.dropoutx, config.dropouti,
                            config.dropoute)
        self.network = CellNetwork(genotype, corpus.vocabulary_size, size, dropouts,
                                   ar=config.ar, tar=config.tar).to(device)
        self.optimizer = self._sgd()
        self.averaging = False  # ASGD since the non-monotonic trigger
        self.val_losses: list[float] = []
        self.best_loss = math.inf
        self.best: dict[str, torch.Tensor] = self._weights()
        self.epoch = 0

    def _sgd(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.network.parameters(), lr=self.config.lr,
                               weight_decay=self.config.weight_decay)

    def _asgd(self) -> torch.optim.Optimizer:
        return torch.optim.ASGD(self.network.parameters(), lr=self.config.lr, t0=0, lambd=0.0,
                                weight_decay=self.config.weight_decay)

    def _weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.network.state_dict().items()}

    def _averaged(self) -> dict[str, torch.Tensor]:
        """The network's weights, with ASGD's averages in place of the parameters."""
        weights = self._weights()
        if self.averaging:
            for name, p in self.network.named_parameters():
                if "ax" in self.optimizer.state.get(p, {}):
                    weights[name] = self.optimizer.state[p]["ax"].detach().clone()
        return weights

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
        """Nothing happens between epochs (the ASGD switch is part of the epoch)."""

    def describe(self) -> str:
        return (f"train: {self.parameters / 1e6:.3f}M parameters, corpus {self.corpus.name}, "
                f"{self.epochs} epochs x ~{self.steps_per_epoch} steps, device {self.device}")

    def train_epoch(self, progress: Callable[..., Any] | None = None) -> MetricsLine:
        self.network.train()
        nll_sum = torch.zeros((), device=self.device)
        tokens = 0
        for _ in range(self.train_stream.steps_per_epoch):
            batch = self.train_stream.next()
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.lr * batch.lr_scale
            outputs = self.network(*batch.inputs)
            nll = F.nll_loss(outputs.log_probs, batch.targets)
            self.optimizer.zero_grad(set_to_none=True)
            (nll + outputs.penalty).backward()
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), self.config.grad_clip)
            self.optimizer.step()
            self.train_stream.carry(outputs)
            nll_sum += nll.detach() * batch.targets.numel()
            tokens += batch.targets.numel()
            if progress is not None:
                progress()
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr
        loss = nll_sum.item() / tokens
        return {"lr": self.config.lr, "train_loss": loss, "train_perplexity": _ppl(loss)}

    @torch.no_grad()
    def evaluate(self, split: str, weights: dict[str, torch.Tensor]) -> float:
        """Mean NLL per predicted token of `split` with `weights`, hidden carried."""
        current = self._weights()
        self.network.load_state_dict(weights)
        self.network.eval()
        nll, count = 0.0, 0
        evaluation = InOrder(self.splits[split], self.config.bptt, self.config.hidden_size)
        for batch in evaluation:
            outputs = self.network(*batch.inputs)
            nll += F.nll_loss(outputs.log_probs, batch.targets, reduction="sum").item()
            count += batch.targets.numel()
            evaluation.carry(outputs)
        self.network.load_state_dict(current)
        return nll / count

    def run_epoch(self, progress: Callable[..., Any] | None = None) -> MetricsLine:
        record = self.train_epoch(progress)
        if not math.isfinite(record["train_loss"]):
            if not math.isfinite(self.best_loss):
                raise DivergenceError(f"the training loss became {record['train_loss']} in "
                                      f"epoch {self.epoch}")
            self.network.load_state_dict(self.best)  # roll back to the best weights
            record["rolled_back"] = True
        val_loss = self.evaluate("val", self._averaged())
        if val_loss < self.best_loss:
            self.best_loss, self.best = val_loss, self._averaged()
        if (not self.averaging and len(self.val_losses) > self.config.nonmono
                and val_loss > min(self.val_losses[: len(self.val_losses) - self.config.nonmono])):
            self.optimizer, self.averaging = self._asgd(), True
            record["switched_to_asgd"] = True
        if not self.averaging:
            self.val_losses.append(val_loss)
        record.update(val_loss=val_loss, val_perplexity=_ppl(val_loss), asgd=self.averaging,
                      best_val_perplexity=_ppl(self.best_loss))
        if self.epoch + 1 == self.epochs and "test" in self.splits:
            test_loss = self.evaluate("test", self.best)
            record.update(test_loss=test_loss, test_perplexity=_ppl(test_loss))
        return record

    def epoch_line(self, record: dict[str, Any]) -> str:
        line = (f"train ppl {record['train_perplexity']:.2f}  val ppl "
                f"{record['val_perplexity']:.2f} (best {record['best_val_perplexity']:.2f})"
                f"{'  ASGD' if record['asgd'] else ''}")
        if "test_perplexity" in record:
            line += f"  test ppl {record['test_perplexity']:.2f} (best weights)"
        return line

    def write_epoch_files(self, run_dir: RunDir) -> None:
        """The best weights travel in the checkpoint."""

    def summary(self, records: list[MetricsLine]) -> TrainingResult:
        final = records[-1] if records else {}
        return {"eval": self.config.eval, "corpus": self.corpus.name,
                "val_perplexity": _ppl(self.best_loss),
                "test_perplexity": final.get("test_perplexity"),
                "parameters": self.parameters, "epochs": self.epochs,
                "asgd_from_epoch": next((r["epoch"] for r in records
                                         if r.get("switched_to_asgd")), None),
                "genotype": self.genotype.to_dict(),
                "score": {"name": "perplexity", "higher": False},
                "train_seconds": round(sum(r["seconds"] for r in records), 3)}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "network": self.network.state_dict(),
                "optimizer": self.optimizer.state_dict(), "averaging": self.averaging,
                "val_losses": list(self.val_losses), "best_loss": self.best_loss,
                "best": self.best, "train_stream": self.train_stream.state_dict(),
                "rng": rng_state(self.device)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.network.load_state_dict(state["network"])
        self.averaging = bool(state["averaging"])
        self.optimizer = self._asgd() if self.averaging else self._sgd()
        self.optimizer.load_state_dict(state["optimizer"])
        self.val_losses = list(state["val_losses"])
        self.best_loss = float(state["best_loss"])
        self.best = dict(state["best"])
        self.train_stream.load_state_dict(state["train_stream"])
        set_rng_state(state["rng"], self.device)


def _ppl(loss: float) -> float:
    return math.exp(min(loss, 700.0)) if math.isfinite(loss) else math.inf


def build_training(config: LanguageTrainConfig, genotype: Genotype,
                   corpus: Corpus | None = None) -> LanguageTraining:
    from rdarts.domains.language.domain import load_corpus

    corpus = load_corpus(config.dataset, config.data_dir) if corpus is None else corpus
    return LanguageTraining(config, genotype, corpus, resolve_device(config.device))
