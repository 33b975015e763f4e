"""`spaces`: the built-in search spaces, or one space (or YAML space file) edge by edge.

Search spaces are named on the command line (`--space s3`); this command shows what the
names mean, so that a user can check a space file before searching it.
"""

from __future__ import annotations

import argparse
import json

from rdarts.cli.flags import Commands


def add_parser(commands: Commands) -> None:
    """`spaces`: the built-in search spaces."""
    spaces = commands.add_parser("spaces", help="list the built-in search spaces or show one",
                                 description="List the built-in search spaces, or print one "
                                             "(or a YAML space file) edge by edge.")
    spaces.add_argument("name", nargs="?", help="a space name or YAML file to show")
    spaces.set_defaults(handler=_spaces)


def _spaces(args: argparse.Namespace) -> int:
    from rdarts.core.space import BUILTIN_SPACES, edge_endpoints, get_space

    if args.name is None:
        for name, space in BUILTIN_SPACES.items():
            ops = sorted({op for edge in space.normal + space.reduce for op in edge})
            print(f"{name:6s} nodes={space.nodes} alphas={space.num_alpha:4d}  {', '.join(ops)}")
        return 0
    space = get_space(args.name)
    print(json.dumps({"name": space.name, "nodes": space.nodes, "alphas": space.num_alpha}))
    for cell_type in ("normal", "reduce"):
        print(f"{cell_type} cell:")
        for edge, ((node, source), ops) in enumerate(
                zip(edge_endpoints(space.nodes), space.edges(cell_type), strict=True)):
            print(f"  edge {edge:2d}  node {node} <- state {source}: {', '.join(ops)}")
    return 0
