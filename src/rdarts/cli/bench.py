"""`bench`: the tabular benchmarks the domains ship (S5 for images: `rdarts bench s5 ...`).

Each domain registers its own benchmark commands (`add_benchmark_commands`), so this module
knows no benchmark; it only makes the `bench` group.
"""

from __future__ import annotations

from rdarts.cli.flags import Commands
from rdarts.domains.registry import domain_names, get_domain


def add_parser(commands: Commands) -> None:
    """`bench BENCHMARK ...`: every domain's tabular benchmarks."""
    bench = commands.add_parser(
        "bench", help="tabular benchmarks: build, show and look up the S5 table",
        description="Tabular benchmarks: architectures trained once, so that a search is "
                    "scored by its test regret (the S5 table: paper Section 3, Figure 2).")
    benchmarks = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name in domain_names():
        get_domain(name).add_benchmark_commands(benchmarks)
