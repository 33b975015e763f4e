"""Every search method, declared once: name, how to build it, its preconditions, the settings
it reads and the genotypes it answers (design.md: methods as strategies).

`search`, `sweep` and `report` ask this registry, so a new method touches its own module and
one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rdarts.domains.base import Regularizer
from rdarts.domains.registry import get_domain
from rdarts.errors import ConfigError
from rdarts.search.config import SearchConfig, setting_value
from rdarts.search.methods import Darts, DartsAda, DartsEs
from rdarts.search.random_ws import RandomSearchWS
from rdarts.search.stopping import EarlyStopping, StoppingRule, rule_from_options


@dataclass(frozen=True)
class MethodSpec:
    """A method's declaration."""

    name: str
    summary: str
    build: Callable[[SearchConfig], Any]
    check: Callable[[SearchConfig], None]
    reads: Callable[[str, dict[str, Any]], bool]  # (setting, config) -> does it matter here
    # Can a run give a DARTS-ES answer (DARTS-ADA's rule triggers rollbacks instead)?
    answers_early_stop: Callable[[dict[str, Any]], bool]
    save_every_epoch: bool = False  # keeps every epoch's checkpoint (rollbacks need them)


def stopping_rule(config: SearchConfig) -> StoppingRule:
    return rule_from_options(config.es_preset, window=config.es_window, lag=config.es_lag,
                             threshold=config.es_threshold, burn_in=config.es_burn_in)


def _check_period(config: SearchConfig) -> None:
    period = stopping_rule(config).period
    if config.hessian_every != period:
        raise ConfigError(
            f"the early-stopping rule reads lambda_max every {period} epoch(s); "
            f"pass --hessian-every {period} (got {config.hessian_every})")


def _ada_regularizer(config: SearchConfig) -> Regularizer:
    """The domain's regulariser DARTS-ADA adapts (`--ada-regularizer`, by its name)."""
    regularizers = get_domain(config.domain).regularizers
    if config.ada_regularizer not in regularizers:
        raise ConfigError(f"DARTS-ADA cannot adapt {config.ada_regularizer} in the "
                          f"{config.domain} domain; it has {', '.join(regularizers)}")
    return regularizers[config.ada_regularizer]


def _check_ada(config: SearchConfig) -> None:
    _check_period(config)
    setting = _ada_regularizer(config).setting
    if setting != "weight_decay" and setting_value(config, setting) <= 0:
        flag = "--" + setting.replace("_", "-")
        raise ConfigError(f"DARTS-ADA on {config.ada_regularizer} needs a starting {flag} > 0 "
                          "(it multiplies the value at each rollback)")


def _no_check(config: SearchConfig) -> None:
    """No preconditions."""


def _ada(config: SearchConfig) -> DartsAda:
    regularizer = _ada_regularizer(config)
    r_max = regularizer.r_max if config.ada_max is None else config.ada_max
    return DartsAda(EarlyStopping(stopping_rule(config)), regularizer.setting,
                    config.ada_regularizer,
                    config.ada_eta, r_max)


def _reads_es(key: str, config: dict[str, Any]) -> bool:
    return not key.startswith(("rs_", "ada_"))


METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in (
    MethodSpec(
        "darts", "DARTS (first or second order)", lambda config: Darts(), _no_check,
        reads=lambda key, config: not key.startswith(("rs_", "ada_"))
        and (not key.startswith("es_") or key == "es_simulate" or bool(config.get("es_simulate"))),
        answers_early_stop=lambda config: True),
    MethodSpec(
        "darts-es", "early stopping on lambda_max (Section 4.2)",
        lambda config: DartsEs(EarlyStopping(stopping_rule(config),
                                             simulate=config.es_simulate)),
        _check_period, reads=_reads_es, answers_early_stop=lambda config: True),
    MethodSpec(
        "darts-ada", "adaptive regularisation with rollback (Section 7.1)", _ada, _check_ada,
        reads=lambda key, config: not key.startswith("rs_") and key != "es_simulate",
        answers_early_stop=lambda config: False, save_every_epoch=True),
    MethodSpec(
        "rs-ws", "random search with weight sharing", lambda config: RandomSearchWS(config.seed),
        _no_check, reads=lambda key, config: not key.startswith(("es_", "ada_")),
        answers_early_stop=lambda config: True),
)}


def method_spec(name: str) -> MethodSpec:
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return METHODS[name]


def check_method(config: SearchConfig) -> None:
    """The checks a method makes at its start, made before anything runs."""
    method_spec(config.method).check(config)


def setting_applies(key: str, config: dict[str, Any]) -> bool:
    """Whether a setting can change what a run's method does (rs_* only for RS-ws, ada_* only
    for DARTS-ADA, the ES rule where it is evaluated); unknown methods read everything."""
    method = config.get("method")
    if method not in METHODS:
        return True
    return METHODS[method].reads(key, config)
