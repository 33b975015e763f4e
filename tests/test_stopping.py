"""The DARTS-ES stopping rule (paper Section 4.2, spec section 6), checked on synthetic
lambda_max sequences whose decisions are computed by hand in the comments."""

from __future__ import annotations

import json
import random

import pytest

from rdarts.errors import ConfigError
from rdarts.search.stopping import (
    STOPPING_PRESETS,
    EarlyStopping,
    StoppingRule,
    Trigger,
    decide,
    rule_from_options,
    smoothed,
)

PAPER = STOPPING_PRESETS["paper"]
REFERENCE = STOPPING_PRESETS["reference"]


def _run(rule: StoppingRule, epochs: list[int], values: list[float]) -> list[Trigger]:
    """Every firing of `decide` when called after each evaluation (not just the first)."""
    history: list[tuple[int, float]] = []
    fired = []
    for epoch, value in zip(epochs, values, strict=True):
        history.append((epoch, value))
        trigger = decide(history, rule)
        if trigger is not None:
            fired.append(trigger)
    return fired


def _first(rule: StoppingRule, epochs: list[int], values: list[float]) -> Trigger | None:
    stopping = EarlyStopping(rule)
    for epoch, value in zip(epochs, values, strict=True):
        stopping.observe(epoch, value, {"epoch": epoch})
    return stopping.trigger


def _paper_epochs(n: int) -> list[int]:
    return list(range(n))


def _reference_epochs(n: int) -> list[int]:
    return [2 * i + 1 for i in range(n)]  # eigenvalue every 2 epochs: 1, 3, 5, ...


def test_presets_match_spec_section_6() -> None:
    assert StoppingRule() == PAPER == StoppingRule(1, 5, 5, 0.75, 0)
    assert StoppingRule(2, 5, 4, 1 / 1.3, 10) == REFERENCE
    assert PAPER.half == REFERENCE.half == 2


def test_smoothed_small_lists() -> None:
    assert smoothed([1.0, 2.0, 3.0, 4.0, 5.0], 3) == [None, 2.0, 3.0, 4.0, None]
    assert smoothed([1.0, 2.0, 3.0, 4.0, 5.0], 5) == [None, None, 3.0, None, None]
    assert smoothed([1.0, 2.0, 6.0], 1) == [1.0, 2.0, 6.0]
    assert smoothed([1.0, 2.0], 5) == [None, None]
    assert smoothed([], 5) == []
    with pytest.raises(ValueError, match="odd"):
        smoothed([1.0, 2.0], 2)


@pytest.mark.parametrize("preset", ["paper", "reference"])
@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_flat_never_stops(preset: str, noise: float) -> None:
    rng = random.Random(0)
    values = [3.0 * (1 + noise * rng.uniform(-1, 1)) for _ in range(60)]
    epochs = _paper_epochs(60) if preset == "paper" else _reference_epochs(60)
    assert _run(STOPPING_PRESETS[preset], epochs, values) == []


def test_paper_step_hand_computed() -> None:
    # lambda = 1 at epochs 0..9, 2 from epoch 10. At evaluation j (= epoch j) the rule looks at
    # c = j - 2 (window j-4..j) and c - 5 = j - 7 (window j-9..j-5, all ones here):
    #   j = 9:  first decision (c - 5 - 2 = 0); lambda_bar(7) = 1          ratio 1
    #   j = 10: lambda_bar(8) = (4 * 1 + 2) / 5 = 1.2                      ratio 0.833 >= 0.75
    #   j = 11: lambda_bar(9) = (3 * 1 + 2 * 2) / 5 = 1.4                  ratio 0.714 <  0.75
    # so the decision about epoch i = 9 is taken at 9 + 2 = 11 and returns 9 - 5 = 4.
    values = [1.0] * 10 + [2.0] * 10
    fired = _run(PAPER, _paper_epochs(20), values)
    first = fired[0]
    assert (first.decided_at, first.return_epoch) == (11, 4)
    assert first.lambda_bar_earlier == pytest.approx(1.0)
    assert first.lambda_bar_later == pytest.approx(1.4)
    assert first.ratio == pytest.approx(1 / 1.4)
    assert _first(PAPER, _paper_epochs(20), values) == first
    # No decision can exist before epoch 9, whatever the values.
    assert _run(PAPER, _paper_epochs(9), [float(10**e) for e in range(9)]) == []
    assert _run(PAPER, _paper_epochs(10), [float(10**e) for e in range(10)])[0].decided_at == 9


def test_paper_linear_rise_hand_computed() -> None:
    # lambda = 1 up to epoch 10, then rises by 0.5 per epoch: 1.5 at 11, 2 at 12, 2.5 at 13.
    #   j = 11: lambda_bar(9)  = (1 + 1 + 1 + 1 + 1.5) / 5 = 1.1   ratio 1 / 1.1 = 0.909
    #   j = 12: lambda_bar(10) = (1 + 1 + 1 + 1.5 + 2) / 5 = 1.3   ratio 1 / 1.3 = 0.769
    #   j = 13: lambda_bar(11) = (1 + 1 + 1.5 + 2 + 2.5) / 5 = 1.6 ratio 1 / 1.6 = 0.625 < 0.75
    # (lambda_bar(j - 7) = 1 throughout): decided at 13, returns epoch 13 - 7 = 6.
    values = [1.0 if e <= 10 else 1.0 + 0.5 * (e - 10) for e in range(20)]
    trigger = _first(PAPER, _paper_epochs(20), values)
    assert trigger is not None
    assert (trigger.decided_at, trigger.return_epoch) == (13, 6)
    assert trigger.ratio == pytest.approx(0.625)


@pytest.mark.parametrize("step_at", [10, 17, 30])
def test_paper_decides_about_i_at_i_plus_2_returning_i_minus_5(step_at: int) -> None:
    values = [1.0] * step_at + [5.0] * 20
    for trigger in _run(PAPER, _paper_epochs(len(values)), values):
        i = trigger.decided_at - 2
        assert trigger.return_epoch == i - 5


def test_reference_step_returns_current_minus_12() -> None:
    # Evaluation k at epoch 2k + 1. lambda = 1 for k = 0..14 (epochs 1..29), 2 from k = 15
    # (epoch 31). At evaluation j the rule compares c = j - 2 (window j-4..j) with c - 4 = j - 6
    # (window j-8..j-4, all ones here):
    #   j = 15 (epoch 31): lambda_bar(13) = (4 + 2) / 5 = 1.2   ratio 0.833 >= 1/1.3 = 0.769
    #   j = 16 (epoch 33): lambda_bar(14) = (3 + 4) / 5 = 1.4   ratio 0.714 <  0.769
    # returns evaluation 10, epoch 21 = 33 - 12 (8 epochs of lag + 4 of half window).
    values = [1.0] * 15 + [2.0] * 10
    trigger = _first(REFERENCE, _reference_epochs(25), values)
    assert trigger is not None
    assert (trigger.decided_at, trigger.return_epoch) == (33, 21)
    assert trigger.ratio == pytest.approx(1 / 1.4)
    for step_at in (12, 15, 20):
        values = [1.0] * step_at + [4.0] * 12
        for fired in _run(REFERENCE, _reference_epochs(len(values)), values):
            assert fired.return_epoch == fired.decided_at - 12


def test_reference_burn_in() -> None:
    # lambda = 1 for k = 0..6 (epochs 1..13), 3 from k = 7 (epoch 15). First decision at j = 8
    # (c - lag - half = 8 - 2 - 4 - 2 = 0):
    #   j = 8  (epoch 17): lambda_bar(6) = (3 + 6) / 5 = 1.8, earlier 1: ratio 0.556, returns
    #                      epoch 2*2+1 = 5 < 10: no stop
    #   j = 9  (epoch 19): lambda_bar(7) = 2.2, ratio 0.455, returns 7 < 10: no stop
    #   j = 10 (epoch 21): lambda_bar(8) = 2.6, ratio 0.385, returns 9 < 10: no stop
    #   j = 11 (epoch 23): lambda_bar(9) = 3, lambda_bar(5) = (4 + 3) / 5 = 1.4, ratio 0.467,
    #                      returns epoch 11 >= 10: stop.
    values = [1.0] * 7 + [3.0] * 10
    epochs = _reference_epochs(len(values))
    trigger = _first(REFERENCE, epochs, values)
    assert trigger is not None
    assert (trigger.decided_at, trigger.return_epoch) == (23, 11)
    assert trigger.lambda_bar_earlier == pytest.approx(1.4)
    assert trigger.lambda_bar_later == pytest.approx(3.0)
    # Without the burn-in the same sequence stops at the first decision.
    early = _first(rule_from_options("reference", burn_in=0), epochs, values)
    assert early is not None
    assert (early.decided_at, early.return_epoch) == (17, 5)


@pytest.mark.parametrize("preset", ["paper", "reference"])
def test_non_positive_curvature_never_triggers(preset: str) -> None:
    rule = STOPPING_PRESETS[preset]
    epochs = _paper_epochs(40) if preset == "paper" else _reference_epochs(40)
    assert _run(rule, epochs, [0.0] * 40) == []
    # Growing in magnitude while negative: the raw ratio (-1) / (-10) = 0.1 would pass.
    assert _run(rule, epochs, [-1.0] * 20 + [-10.0] * 20) == []
    assert _run(rule, epochs, [-1.0 - e for e in range(40)]) == []


def test_first_trigger_is_kept_and_history_grows() -> None:
    stopping = EarlyStopping(PAPER, simulate=True)
    values = [1.0] * 10 + [2.0] * 5 + [8.0] * 15
    returned = [stopping.observe(e, v, {"epoch": e}) for e, v in enumerate(values)]
    fired = [t for t in returned if t is not None]
    assert len(fired) == 1 and fired[0] is stopping.trigger
    assert (stopping.trigger.decided_at, stopping.trigger.return_epoch) == (11, 4)
    assert len(_run(PAPER, _paper_epochs(len(values)), values)) > 1  # the rule fires again
    assert len(stopping.history) == len(values) and stopping.simulate
    assert stopping.genotype_at(stopping.trigger.return_epoch) == {"epoch": 4}
    # DARTS-ADA ignores a trigger past R_max by resetting it: the next firing is reported.
    # At epoch 12: lambda_bar(10) = (1 + 1 + 2 + 2 + 2) / 5 = 1.6 against 1: ratio 0.625.
    ada = EarlyStopping(PAPER)
    for e, v in enumerate(values[:12]):
        ada.observe(e, v, {"epoch": e})
    assert ada.trigger is not None and ada.trigger.decided_at == 11
    ada.trigger = None
    again = ada.observe(12, values[12], {"epoch": 12})
    assert again is ada.trigger and (again.decided_at, again.return_epoch) == (12, 5)


def test_state_dict_round_trip_reproduces_later_decisions() -> None:
    values = [1.0] * 15 + [2.0] * 10
    epochs = _reference_epochs(len(values))
    whole = EarlyStopping(REFERENCE)
    for e, v in zip(epochs, values, strict=True):
        whole.observe(e, v, {"epoch": e})
        whole.record_genotype(e + 1, {"epoch": e + 1})
    for cut in (3, 12, 16, 20):
        first = EarlyStopping(REFERENCE)
        for e, v in zip(epochs[:cut], values[:cut], strict=True):
            first.observe(e, v, {"epoch": e})
            first.record_genotype(e + 1, {"epoch": e + 1})
        state = json.loads(json.dumps(first.state_dict()))
        resumed = EarlyStopping(REFERENCE)
        resumed.load_state_dict(state)
        for e, v in zip(epochs[cut:], values[cut:], strict=True):
            resumed.observe(e, v, {"epoch": e})
            resumed.record_genotype(e + 1, {"epoch": e + 1})
        assert resumed.trigger == whole.trigger
        assert resumed.history == whole.history
        assert resumed.smoothed_history() == whole.smoothed_history()
        assert resumed.state_dict() == whole.state_dict()
    assert whole.genotype_at(22) == {"epoch": 22}  # an epoch without an evaluation
    with pytest.raises(ValueError, match="differs"):
        EarlyStopping(PAPER).load_state_dict(whole.state_dict())


def test_smoothed_history_and_errors() -> None:
    stopping = EarlyStopping(rule_from_options("paper", window=3))
    for e, v in enumerate([1.0, 2.0, 3.0, 7.0]):
        stopping.observe(e, v, {"epoch": e})
    assert stopping.smoothed_history() == [(0, None), (1, 2.0), (2, 4.0), (3, None)]
    with pytest.raises(ValueError, match=r"epoch 9; recorded: epochs 0\.\.3"):
        stopping.genotype_at(9)
    with pytest.raises(ValueError, match="increasing epoch order"):
        stopping.observe(3, 1.0, {})


def test_rule_from_options() -> None:
    assert rule_from_options("paper", window=None, lag=None, threshold=None) == PAPER
    assert rule_from_options("reference", lag=3, threshold=0.5) == StoppingRule(2, 5, 3, 0.5, 10)
    with pytest.raises(ValueError, match="known presets: paper, reference"):
        rule_from_options("darts")
    with pytest.raises(ConfigError, match="unknown early-stopping preset"):
        rule_from_options("darts")  # a user mistake: the CLI prints one line
    for bad, message in [({"window": 4}, "odd"), ({"window": 0}, "odd"), ({"lag": 0}, "lag"),
                         ({"period": 0}, "period"), ({"threshold": 0.0}, "threshold"),
                         ({"burn_in": -1}, "burn_in"), ({"patience": 3}, "patience")]:
        with pytest.raises(ValueError, match=message):
            rule_from_options("paper", **bad)
