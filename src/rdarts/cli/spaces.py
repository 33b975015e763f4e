"""`spaces`: the built-in search spaces, or one space (or YAML space file) edge by edge.

Search spaces are named on the command line (`--space s3`); this command shows what the
names mean, so that a user can check a space file before searching it.
"""

from __future__ import annotations

import argparse
import json

from rdarts.cli.flags import Commands
from rdarts.core.space import CellSpace
from rdarts.domains.registry import domain_names, get_domain


def add_parser(commands: Commands) -> None:
    """`spaces`: the built-in search spaces of every domain."""
    spaces = commands.add_parser("spaces", help="list the built-in search spaces or show one",
                                 description="List the built-in search spaces of each domain, "
                                             "or print one (or a YAML space file) edge by edge.")
    spaces.add_argument("name", nargs="?", help="a space name or YAML file to show")
    spaces.add_argument("--domain", choices=domain_names(),
                        help="only this domain's spaces (a YAML file is read as image)")
    spaces.set_defaults(handler=_spaces)


def _spaces(args: argparse.Namespace) -> int:
    names = (args.domain,) if args.domain else domain_names()
    if args.name is None:
        for domain_name in names:
            domain = get_domain(domain_name)
            print(f"{domain_name}:")
            for name, space in domain.spaces().items():
                print(f"  {name:8s} cells={','.join(space.cell_types)} nodes={space.nodes} "
                      f"alphas={space.num_alpha:4d}  {', '.join(space.ops())}")
        return 0
    space = _find_space(args.name, names)
    print(json.dumps({"name": space.name, "nodes": space.nodes, "alphas": space.num_alpha,
                      "cells": list(space.cell_types)}))
    for cell in space.cells:
        print(f"{cell.name} cell ({cell.inputs} inputs, keeps {list(cell.keep)} per node):")
        for edge, ((node, source), ops) in enumerate(zip(cell.endpoints, cell.edges,
                                                         strict=True)):
            print(f"  edge {edge:2d}  node {node} <- state {source}: {', '.join(ops)}")
    return 0


def _find_space(name: str, domains: tuple[str, ...]) -> CellSpace:
    """A built-in space of the first domain that has it, else the default domain's reading."""
    for domain_name in domains:
        if name in get_domain(domain_name).spaces():
            return get_domain(domain_name).space(name)
    return get_domain(domains[0] if len(domains) == 1 else None).space(name)
