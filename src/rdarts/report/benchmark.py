"""The tabular benchmark a search is scored against (S5), reached through the run's domain.

A search on S5 logs its regret per epoch, but the report wants more of the table: the test
error and parameter count of a genotype that was never trained, and the regret of a random
architecture (the baseline of Figure 2). The report asks the run's domain for the table
(`Domain.benchmark(space, config)`), never the image domain's modules (the layering rule in
docs/architecture.md), and once per distinct table setting.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

from rdarts.domains.base import TabularBenchmark
from rdarts.domains.registry import get_domain
from rdarts.errors import RdartsError
from rdarts.search.config import SearchConfig

# What a run's table depends on (the image domain: its space, `regret_table` and dataset).
TABLE_KEYS = ("domain", "space", "nodes", "regret_table", "dataset")


class Benchmarks:
    """The tables of the runs of one report, loaded once per distinct setting."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, ...], TabularBenchmark | None] = {}

    def for_config(self, config: dict[str, Any]) -> TabularBenchmark | None:
        """The table a search with `config` is scored against; None without one (another
        space, `regret_table: none`, a table file that is gone)."""
        key = tuple(str(config.get(k)) for k in TABLE_KEYS)
        if key not in self._found:
            self._found[key] = _load(config)
        return self._found[key]


def _load(config: dict[str, Any]) -> TabularBenchmark | None:
    if not config.get("space"):
        return None
    # the settings the run's file leaves out have the values the search ran with: defaults
    options = SimpleNamespace(**{**dataclasses.asdict(SearchConfig()), **config})
    try:
        domain = get_domain(options.domain)
        return domain.benchmark(domain.space(options.space, options.nodes), options)
    except (RdartsError, OSError, TypeError, AttributeError):
        return None


def table_entry(benchmark: TabularBenchmark | None,
                genotype: dict[str, Any] | None) -> dict[str, Any] | None:
    """`benchmark.lookup(genotype)` (fractions), None without a table, a genotype or an entry."""
    if benchmark is None or not genotype:
        return None
    try:
        return benchmark.lookup(genotype)
    except RdartsError:
        return None


def random_regret(benchmark: TabularBenchmark | None) -> float | None:
    """The expected test regret of a uniformly random architecture, in percentage points."""
    return None if benchmark is None else 100.0 * float(benchmark.expected_random_regret())
