"""Tabular benchmarks: every architecture of a small space trained once, looked up by genotype.

`rdarts.benchmarks.s5` holds the paper's S5 space (Section 3, Figure 2): 81 architectures, a
table of their errors, the lookup that turns a search's genotype into its test regret, and the
build of a table through `rdarts sweep`.
"""
