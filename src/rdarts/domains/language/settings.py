"""The language domain's own settings, its search defaults and its presets (spec sections 4, 9).

Kept apart from the search algorithm's settings (`SearchConfig`): `LanguageSettings` holds what
only a language model has (sizes, BPTT, the five dropouts, AR/TAR, the corpus prefixes); its
fields are flags of `rdarts search --domain language` and keys of presets and YAML files, and
a run stores them under `domain_settings`. `SEARCH_DEFAULTS` are the search settings DARTS'
recurrent search uses instead of the image defaults. This module imports no torch, so building
the command line stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from rdarts.errors import ConfigError


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class LanguageSettings:
    """A recurrent language model's settings; defaults are DARTS' search (spec section 4)."""

    hidden_size: int = _setting(300, "embedding and hidden size E = H (tied; paper: 300 in "
                                     "the search, 850 in training)")
    bptt: int = _setting(35, "truncated-BPTT window length (35)")
    dropout: float = _setting(0.75, "locked dropout on the cell outputs (0.75)")
    dropouth: float = _setting(0.25, "dropout on the recurrent matmul inputs (0.25)")
    dropoutx: float = _setting(0.75, "dropout on the cell's input x_t (0.75)")
    dropouti: float = _setting(0.2, "locked dropout on the embeddings (0.2)")
    dropoute: float = _setting(0.0, "embedding dropout, whole words (0 in the search, 0.1 "
                                    "in training)")
    tar: float = _setting(1e-3, "temporal activation regularisation beta, weight step only "
                                "(1e-3)")
    ar: float = _setting(0.0, "activation regularisation alpha (0: off)")
    eval_batch_size: int = _setting(10, "batch size of the one-shot validation pass (10)")
    train_tokens: int | None = _setting(None, "use only the first K training tokens "
                                              "(default: all)")
    valid_tokens: int | None = _setting(None, "use only the first K validation tokens for "
                                              "alpha and the one-shot validation (default: "
                                              "all)")

    def __post_init__(self) -> None:
        checks = [
            (self.hidden_size >= 1, "hidden_size must be >= 1"),
            (self.bptt >= 2, "bptt must be >= 2"),
            (all(0.0 <= p < 1.0 for p in (self.dropout, self.dropouth, self.dropoutx,
                                          self.dropouti, self.dropoute)),
             "dropout rates must be in [0, 1)"),
            (self.tar >= 0 and self.ar >= 0, "tar and ar must be >= 0"),
            (self.eval_batch_size >= 1, "eval_batch_size must be >= 1"),
            (self.train_tokens is None or self.train_tokens >= 4, "train_tokens must be >= 4"),
            (self.valid_tokens is None or self.valid_tokens >= 4, "valid_tokens must be >= 4"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


SETTING_NAMES = tuple(f.name for f in fields(LanguageSettings))

# The search settings of DARTS' recurrent search (train_search.py; spec section 4).
SEARCH_DEFAULTS: dict[str, Any] = {
    "space": "darts-rnn", "dataset": "auto", "epochs": 50, "batch_size": 256, "order": 2,
    "lr": 20.0, "lr_min": 20.0, "momentum": 0.0, "weight_decay": 5e-7, "grad_clip": 0.25,
    "virtual_step_clip": True, "arch_lr": 3e-3, "arch_beta1": 0.9, "arch_beta2": 0.999,
    "arch_weight_decay": 1e-3,
}

PRESETS: dict[str, dict[str, Any]] = {
    # DARTS' search as Zela et al. ran it (xi = eta, second order): the defaults.
    "paper": {},
    # CPU scale (spec section 9): about 15 minutes on 2 cores; first order (a deviation).
    "cpu": {"hidden_size": 64, "batch_size": 32, "epochs": 10, "order": 1,
            "train_tokens": 64_000, "valid_tokens": 16_000},
    # For tests: a few seconds.
    "smoke": {"hidden_size": 8, "batch_size": 4, "bptt": 10, "epochs": 2, "order": 1,
              "eval_batch_size": 2, "dropout": 0.0, "dropouth": 0.0, "dropoutx": 0.0,
              "dropouti": 0.0, "dropoute": 0.0, "train_tokens": 240, "valid_tokens": 120},
}


EVAL_MODES = ("test", "holdout")


@dataclass(frozen=True)
class LanguageTrainConfig:
    """Training a recurrent cell from scratch; defaults are DARTS' evaluation (spec section 5,
    A.2.2) with Zela et al.'s 1600 epochs. Names shared with the image `TrainConfig` (epochs,
    lr, ...) are the same flags."""

    domain: str = _setting("language", "the task (language)")
    dataset: str = _setting("auto", "auto (ptb with --data-dir, else kjv), kjv (embedded, "
                                    "KJV in PTB format) or ptb (--data-dir)")
    data_dir: str | None = _setting(None, "folder with ptb.train.txt, ptb.valid.txt, "
                                          "ptb.test.txt (or train.txt, valid.txt, test.txt)")
    eval: str = _setting("test", "test: report the validation and test perplexity; holdout: "
                                 "the validation perplexity only (selection runs)")
    epochs: int = _setting(1600, "training epochs (Zela et al.: 1600)")
    batch_size: int = _setting(64, "minibatch size (64)")
    lr: float = _setting(20.0, "SGD / ASGD learning rate, scaled per step by seq_len/bptt (20)")
    weight_decay: float = _setting(8e-7, "L2 factor (8e-7)")
    grad_clip: float = _setting(0.25, "gradient norm clipping (0.25)")
    hidden_size: int = _setting(850, "embedding and hidden size E = H (850)")
    bptt: int = _setting(35, "BPTT window length, jittered per step (35)")
    dropout: float = _setting(0.75, "locked dropout on the cell outputs (0.75)")
    dropouth: float = _setting(0.25, "dropout on the recurrent matmul inputs (0.25)")
    dropoutx: float = _setting(0.75, "dropout on the cell's input x_t (0.75)")
    dropouti: float = _setting(0.2, "locked dropout on the embeddings (0.2)")
    dropoute: float = _setting(0.1, "embedding dropout, whole words (0.1)")
    tar: float = _setting(1e-3, "temporal activation regularisation beta (1e-3)")
    ar: float = _setting(0.0, "activation regularisation alpha (0: off)")
    nonmono: int = _setting(5, "NT-ASGD: switch to averaged SGD when the validation loss is "
                               "worse than the best of all but the last K (5)")
    eval_batch_size: int = _setting(10, "validation batch size (10)")
    test_batch_size: int = _setting(1, "test batch size (1)")
    train_tokens: int | None = _setting(None, "use only the first K training tokens")
    eval_tokens: int | None = _setting(None, "use only the first K tokens of the validation "
                                             "and test splits")
    seed: int = _setting(0, "random seed (0)")
    device: str = _setting("auto", "auto, cpu, cuda or cuda:N")

    def __post_init__(self) -> None:
        LanguageSettings(hidden_size=self.hidden_size, bptt=self.bptt, dropout=self.dropout,
                         dropouth=self.dropouth, dropoutx=self.dropoutx,
                         dropouti=self.dropouti, dropoute=self.dropoute, tar=self.tar,
                         ar=self.ar, eval_batch_size=self.eval_batch_size,
                         train_tokens=self.train_tokens, valid_tokens=self.eval_tokens)
        checks = [
            (self.domain == "language", "a language training has domain 'language'"),
            (self.eval in EVAL_MODES, f"eval must be one of {', '.join(EVAL_MODES)}"),
            (self.epochs >= 1 and self.batch_size >= 1, "epochs and batch_size must be >= 1"),
            (self.lr > 0 and self.grad_clip > 0, "lr and grad_clip must be positive"),
            (self.nonmono >= 0, "nonmono must be >= 0"),
            (self.test_batch_size >= 1, "test_batch_size must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


TRAIN_CONFIG = LanguageTrainConfig
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    # CPU scale (spec section 9): a 200k-token training prefix, 10 epochs, test at batch 10.
    "cpu": {"hidden_size": 64, "train_tokens": 200_000, "epochs": 10, "nonmono": 2,
            "test_batch_size": 10},
    "smoke": {"hidden_size": 8, "batch_size": 4, "bptt": 10, "epochs": 2, "nonmono": 0,
              "eval_batch_size": 2, "test_batch_size": 2, "dropout": 0.0, "dropouth": 0.0,
              "dropoutx": 0.0, "dropouti": 0.0, "dropoute": 0.0, "train_tokens": 240,
              "eval_tokens": 120},
}
