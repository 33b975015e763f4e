"""DARTS-ES: early stopping on the dominant Hessian eigenvalue (paper Section 4.2, spec 6).

The search records lambda_max at some epochs; h_0..h_j = (epoch_i, lambda_i) are these
evaluations in order. With a centred window of w evaluations (half = (w - 1) // 2)

    lambda_bar(c) = mean(lambda_{c-half}, ..., lambda_{c+half}),

defined when the whole window has been measured. At each new evaluation j the rule looks at
c = j - half, the latest evaluation with a complete window, and stops when

    lambda_bar(c) > 0  and  lambda_bar(c - lag) / lambda_bar(c) < threshold
                       and  epoch_{c-lag} >= burn_in,

returning the architecture of epoch_{c-lag}; the decision is taken at epoch_j.

Both published variants are this one rule:

- paper: lambda_max every epoch, k = 5 epochs of smoothing, compared with k = 5 epochs earlier,
  threshold 0.75: the decision about epoch i is taken at i + 2 and returns epoch i - 5.
- reference code: every 2 epochs, 5 evaluations of smoothing, 4 evaluations (8 epochs)
  earlier, stop when the average exceeds 1.3x the earlier one (ratio < 1/1.3), never return an
  epoch before 10: the decision at epoch e returns epoch e - 8 - 2 * 2 = e - 12.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rdarts.errors import ConfigError


class StoppingRuleError(ConfigError, ValueError):
    """An early-stopping preset or parameter is invalid (a user mistake, and a ValueError)."""


@dataclass(frozen=True)
class StoppingRule:
    """Parameters of the DARTS-ES rule; see the module docstring for the equations.

    `period` is how often the search measures lambda_max (in epochs); the rule itself reads
    the epochs from the history, so the search must measure with this period (the method
    driver checks it). `window`, `lag` count evaluations, not epochs.
    """

    period: int = 1
    window: int = 5
    lag: int = 5
    threshold: float = 0.75
    burn_in: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not (isinstance(self.period, int) and self.period >= 1):
            problems.append(f"period must be an integer >= 1, got {self.period!r}")
        if not (isinstance(self.window, int) and self.window >= 1 and self.window % 2 == 1):
            problems.append(f"window must be an odd integer >= 1, got {self.window!r}")
        if not (isinstance(self.lag, int) and self.lag >= 1):
            problems.append(f"lag must be an integer >= 1, got {self.lag!r}")
        if not (isinstance(self.threshold, int | float) and math.isfinite(self.threshold)
                and self.threshold > 0):
            problems.append(f"threshold must be a finite number > 0, got {self.threshold!r}")
        if not (isinstance(self.burn_in, int) and self.burn_in >= 0):
            problems.append(f"burn_in must be an integer >= 0, got {self.burn_in!r}")
        if problems:
            raise StoppingRuleError("invalid early-stopping rule: " + "; ".join(problems))

    @property
    def half(self) -> int:
        """Evaluations on each side of the centre of the smoothing window."""
        return (self.window - 1) // 2


STOPPING_PRESETS: dict[str, StoppingRule] = {
    "paper": StoppingRule(period=1, window=5, lag=5, threshold=0.75, burn_in=0),
    "reference": StoppingRule(period=2, window=5, lag=4, threshold=1 / 1.3, burn_in=10),
}


def rule_from_options(preset: str, **overrides: Any) -> StoppingRule:
    """The preset `preset` with the non-None `overrides` (fields of StoppingRule) applied."""
    if preset not in STOPPING_PRESETS:
        raise StoppingRuleError(f"unknown early-stopping preset {preset!r}; "
                                f"known presets: {', '.join(sorted(STOPPING_PRESETS))}")
    fields = asdict(STOPPING_PRESETS[preset])
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise StoppingRuleError(f"unknown early-stopping option(s) {', '.join(unknown)}; "
                                f"known: {', '.join(fields)}")
    fields.update({name: value for name, value in overrides.items() if value is not None})
    return StoppingRule(**fields)


@dataclass(frozen=True)
class Trigger:
    """One firing of the rule: decided at epoch_j, returning the architecture of epoch_{c-lag},
    with ratio = lambda_bar_earlier / lambda_bar_later = lambda_bar(c-lag) / lambda_bar(c)."""

    decided_at: int
    return_epoch: int
    lambda_bar_earlier: float
    lambda_bar_later: float
    ratio: float


def smoothed(values: Sequence[float], window: int) -> list[float | None]:
    """Centred moving average: out[c] = mean(values[c-half : c+half+1]), None where the window
    runs past either end of `values` (half = (window - 1) // 2)."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"the smoothing window must be odd and >= 1, got {window}")
    half = (window - 1) // 2
    out: list[float | None] = []
    for c in range(len(values)):
        if c - half < 0 or c + half >= len(values):
            out.append(None)
        else:
            out.append(sum(values[c - half : c + half + 1]) / window)
    return out


def decide(history: Sequence[tuple[int, float]], rule: StoppingRule) -> Trigger | None:
    """The rule's decision at the latest evaluation of `history` ((epoch, lambda_max) pairs in
    order), or None. Only c = j - half is examined, so calling this after every evaluation
    examines each evaluation once. Non-finite values never trigger (comparisons are False)."""
    j = len(history) - 1
    c = j - rule.half
    earlier = c - rule.lag
    if earlier - rule.half < 0:
        return None  # lambda_bar(c - lag) is not defined yet
    values = [float(value) for _, value in history]
    bar_later = sum(values[c - rule.half : c + rule.half + 1]) / rule.window
    bar_earlier = sum(values[earlier - rule.half : earlier + rule.half + 1]) / rule.window
    if not bar_later > 0:
        return None  # a ratio over a non-positive curvature says nothing about growth
    ratio = bar_earlier / bar_later
    return_epoch = int(history[earlier][0])
    if ratio < rule.threshold and return_epoch >= rule.burn_in:
        return Trigger(decided_at=int(history[j][0]), return_epoch=return_epoch,
                       lambda_bar_earlier=bar_earlier, lambda_bar_later=bar_later, ratio=ratio)
    return None


class EarlyStopping:
    """The rule over a growing history, plus the genotype of every epoch so the architecture
    of the returned epoch can be handed back. All state is plain data (`state_dict`).

    `trigger` keeps the first firing; a caller that ignores a trigger (DARTS-ADA past R_max)
    may reset it to None and the rule fires again on a later evaluation. With `simulate`, the
    caller records the decision and keeps searching (DARTS and DARTS-ES from one run).
    """

    def __init__(self, rule: StoppingRule, simulate: bool = False) -> None:
        self.rule = rule
        self.simulate = simulate
        self.history: list[tuple[int, float]] = []
        self.genotypes: dict[int, dict[str, Any]] = {}
        self.trigger: Trigger | None = None

    def observe(self, epoch: int, lambda_max: float, genotype: dict[str, Any]) -> Trigger | None:
        """Record lambda_max and the genotype of `epoch`; return the Trigger if the rule fires
        now for the first time, else None."""
        if self.history and epoch <= self.history[-1][0]:
            raise ValueError(f"eigenvalue evaluations must come in increasing epoch order: "
                             f"got epoch {epoch} after epoch {self.history[-1][0]}")
        self.history.append((int(epoch), float(lambda_max)))
        self.record_genotype(epoch, genotype)
        if self.trigger is not None:
            return None
        self.trigger = decide(self.history, self.rule)
        return self.trigger

    def record_genotype(self, epoch: int, genotype: dict[str, Any]) -> None:
        """Keep the genotype (a plain dict) of an epoch, with or without an evaluation."""
        self.genotypes[int(epoch)] = genotype

    def genotype_at(self, epoch: int) -> dict[str, Any]:
        """The genotype recorded at `epoch`."""
        if epoch not in self.genotypes:
            known = sorted(self.genotypes)
            span = f"epochs {known[0]}..{known[-1]}" if known else "no epochs"
            raise ValueError(f"no genotype recorded for epoch {epoch}; recorded: {span}")
        return self.genotypes[epoch]

    def smoothed_history(self) -> list[tuple[int, float | None]]:
        """(epoch, lambda_bar) for every evaluation; None where the window is incomplete."""
        bars = smoothed([value for _, value in self.history], self.rule.window)
        return [(epoch, bar) for (epoch, _), bar in zip(self.history, bars, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        """Plain lists, dicts and numbers: fits torch.save and json.dumps."""
        return {
            "rule": asdict(self.rule),
            "history": [[epoch, value] for epoch, value in self.history],
            "genotypes": [[epoch, genotype] for epoch, genotype in sorted(self.genotypes.items())],
            "trigger": None if self.trigger is None else asdict(self.trigger),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`; the saved rule must equal this object's rule."""
        saved = StoppingRule(**state["rule"])
        if saved != self.rule:
            raise ValueError(f"the checkpoint's early-stopping rule {saved} differs from this "
                             f"run's {self.rule}")
        self.history = [(int(epoch), float(value)) for epoch, value in state["history"]]
        self.genotypes = {int(epoch): genotype for epoch, genotype in state["genotypes"]}
        trigger = state["trigger"]
        self.trigger = None if trigger is None else Trigger(**trigger)
