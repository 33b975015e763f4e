"""Language modelling as a domain of the search core: DARTS' recurrent cells (paper Appendix
E, Figure 16; spec ptb-language.md).

Batches hold a (T, B) token window and the hidden state its stream carried; the loss is the
NLL of the next tokens at both levels and for the Hessian, and the weight step adds the
model's AR/TAR penalty (never the architecture step). Metrics sum the NLL over the true
number of predicted tokens; the score is perplexity, lower is better. The learning rate is
constant (20) and scaled per step by seq_len / bptt through `Batch.lr_scale`. The data is the
Penn Treebank from `--data-dir` (`--dataset ptb`) or the embedded "KJV (PTB format)" corpus.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rdarts.core.genotype import Genotype, check_fits
from rdarts.core.space import CellSpace
from rdarts.domains.base import (
    Batch,
    EpochPlan,
    Regularizer,
    Score,
    SearchData,
    refuse_image_layout_options,
)
from rdarts.domains.language import spaces
from rdarts.domains.language.corpus import Corpus, batchify, embedded_corpus, read_corpus
from rdarts.domains.language.genotypes import KNOWN_GENOTYPES
from rdarts.domains.language.model import Dropouts, sample_masks
from rdarts.domains.language.settings import LanguageSettings
from rdarts.domains.language.stream import ArchStream, InOrder, WindowStream
from rdarts.domains.language.supernet import RecurrentSupernet
from rdarts.errors import ConfigError, DataError

DATASETS = ("auto", "kjv", "ptb")


def settings_of(config: Any) -> LanguageSettings:
    return LanguageSettings(**dict(config.domain_settings))


def dropouts_of(settings: LanguageSettings) -> Dropouts:
    return Dropouts(output=settings.dropout, hidden=settings.dropouth, x=settings.dropoutx,
                    input=settings.dropouti, embedding=settings.dropoute)


def load_corpus(dataset: str, data_dir: str | None) -> Corpus:
    """`kjv`: the embedded corpus; `ptb`: Penn Treebank files in `data_dir`; `auto`: PTB
    when `data_dir` is given, else the embedded corpus."""
    if dataset == "auto":
        dataset = "kjv" if data_dir is None else "ptb"
    if dataset == "kjv":
        if data_dir is not None:
            raise ConfigError("--data-dir is for --dataset ptb; kjv is embedded")
        return embedded_corpus()
    if dataset == "ptb":
        if data_dir is None:
            raise DataError("--dataset ptb needs --data-dir with ptb.train.txt, ptb.valid.txt "
                            "and ptb.test.txt (or train.txt, valid.txt, test.txt)")
        return read_corpus(data_dir, "PTB")
    raise ConfigError(f"unknown language dataset {dataset!r}; known: {', '.join(DATASETS)}")


def _prefix(tokens: torch.Tensor, count: int | None) -> torch.Tensor:
    return tokens if count is None else tokens[:count]


@dataclass(frozen=True)
class LanguageDomain:
    """Recurrent cells on PTB-format corpora."""

    name: str = "language"
    corpus: Corpus | None = None  # a corpus in memory instead of `config.dataset` (tests)

    @property
    def score(self) -> Score:
        return Score("perplexity", higher_is_better=False)

    @property
    def regularizers(self) -> dict[str, Regularizer]:
        # The L2 factors of the paper's Figure 16 (5e-7 * {1, 3, 9, 27}); R_max: the largest.
        return {"l2": Regularizer("l2", "weight_decay", 1.35e-5,
                                  grid=(5e-7, 15e-7, 45e-7, 135e-7))}

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

    def load(self, config: Any) -> Corpus:
        return self.corpus if self.corpus is not None else load_corpus(config.dataset,
                                                                       config.data_dir)

    # ---- data ---------------------------------------------------------------------------
    def search_data(self, config: Any, device: torch.device) -> SearchData:
        """Weights on the training split, alpha on the validation split (the reference's
        `search_data`), both batchified at `batch_size`; the one-shot validation on the
        validation split at `eval_batch_size`; probes at random rows of the alpha split."""
        settings = settings_of(config)
        corpus = self.load(config)
        train_tokens = _prefix(corpus.train, settings.train_tokens)
        valid_tokens = _prefix(corpus.valid, settings.valid_tokens)
        size, bptt = settings.hidden_size, settings.bptt
        train_rows = batchify(train_tokens, config.batch_size).to(device)
        arch_rows = batchify(valid_tokens, config.batch_size).to(device)
        eval_rows = batchify(valid_tokens, settings.eval_batch_size).to(device)
        train = WindowStream(train_rows, bptt, "search", config.seed + 1, size)
        val = ArchStream(arch_rows, bptt, train, size)
        dropouts = dropouts_of(settings)

        def probe(count: int, generator: torch.Generator) -> list[Batch]:
            """Random full windows of the alpha split from the alpha stream's carried hidden
            state (detached; spec O8), each with dropout masks frozen for the estimate."""
            length = min(bptt, arch_rows.shape[0] - 1)
            batches = []
            for _ in range(count):
                row = int(torch.randint(arch_rows.shape[0] - length, (), generator=generator))
                tokens = arch_rows[row:row + length]
                targets = arch_rows[row + 1:row + 1 + length].reshape(-1)
                masks = sample_masks(dropouts, corpus.vocabulary_size, arch_rows.shape[1], size,
                                     device, generator)
                batches.append(Batch((tokens, val.hidden.detach().clone()), targets,
                                     targets.numel(), options={"masks": masks}))
            return batches

        return SearchData(
            name=corpus.name, train=train, val=val,
            evaluation=lambda: InOrder(eval_rows, bptt, size), probe=probe,
            info={"vocabulary": corpus.vocabulary_size, "train_tokens": train_tokens.numel(),
                  "valid_tokens": valid_tokens.numel(), "hessian_hidden": "carried",
                  "settings": asdict(settings)})

    def supernet(self, space: CellSpace, config: Any, data: SearchData) -> nn.Module:
        # bf16 autocast would carry a bf16 hidden state into the fp32 architecture step
        refuse_image_layout_options(config, "language", also=(("amp", False),))
        settings = settings_of(config)
        return RecurrentSupernet(space, data.info["vocabulary"], settings.hidden_size,
                                 dropouts_of(settings), ar=settings.ar, tar=settings.tar)

    # ---- objective and metrics ----------------------------------------------------------
    def loss(self, outputs: Any, batch: Batch) -> torch.Tensor:
        """Mean NLL of the next tokens (no AR/TAR: the architecture step's loss)."""
        return F.nll_loss(outputs.log_probs, batch.targets)

    @torch.no_grad()
    def metrics(self, outputs: Any, batch: Batch) -> dict[str, torch.Tensor]:
        nll = F.nll_loss(outputs.log_probs, batch.targets, reduction="sum")
        return {"nll_sum": nll, "tokens": torch.tensor(batch.targets.numel())}

    def summarise(self, sums: Mapping[str, float]) -> dict[str, float]:
        """Perplexity over the true number of predicted tokens (spec O7)."""
        loss = sums["nll_sum"] / sums["tokens"]
        return {"loss": loss, "perplexity": math.exp(min(loss, 700.0))}

    def penalty(self, outputs: Any) -> torch.Tensor:
        """AR + TAR of the weight step (DARTS' `train_search.py`)."""
        return outputs.penalty

    # ---- schedules ------------------------------------------------------------------------
    def plan(self, config: Any, epoch: int, regularization: Mapping[str, float]) -> EpochPlan:
        """A constant learning rate (each step scales it by its seq_len / bptt)."""
        return EpochPlan(lr=config.lr, forward={}, record={"lr": config.lr})

    def apply_plan(self, data: SearchData, plan: EpochPlan) -> None:
        """Nothing changes between epochs."""

    def benchmark(self, space: CellSpace, config: Any) -> None:
        return None

    def training(self, config: Any, genotype: Genotype) -> Any:
        from rdarts.domains.language.training import build_training

        return build_training(config, genotype, self.corpus)

    def add_benchmark_commands(self, benchmarks: Any) -> None:
        """No tabular benchmark for recurrent cells."""

    def epoch_text(self, record: Mapping[str, Any]) -> str:
        text = f"train ppl {record['train_perplexity']:.2f}"
        if "val_perplexity" in record:
            text += f"  one-shot val ppl {record['val_perplexity']:.2f}"
        return text

    def check_genotype(self, genotype: Genotype) -> None:
        """A recurrent genotype fits DARTS' full recurrent space."""
        check_fits(genotype, spaces.get_space("darts-rnn-full", genotype.nodes))


LANGUAGE = LanguageDomain()
