"""Genotype derivation on hand-made alpha, JSON round trips, one-hot encoding."""

from __future__ import annotations

import json

import pytest
import torch

from rdarts.core.genotype import (
    Genotype,
    check_fits,
    derive,
    genotype_from_dict,
    load_genotype,
    one_hot,
    save_genotype,
)
from rdarts.domains.image.spaces import get_space
from rdarts.errors import GenotypeError


def _weights(space, overrides):
    """Uniform weights with chosen (cell, edge, op index) entries raised."""
    weights = {c: torch.full(space.alpha_shape(c), 0.1) for c in ("normal", "reduce")}
    for (cell, edge, op), value in overrides.items():
        weights[cell][edge, op] = value
    return weights


def test_s3_ignores_none_when_ranking_edges_and_ops():
    space = get_space("s3")  # ops: none, skip_connect, sep_conv_3x3
    weights = _weights(space, {
        ("normal", 0, 0): 0.9,  # a strong `none` must neither keep edge 0 nor be chosen
        ("normal", 0, 2): 0.2,
        ("normal", 1, 1): 0.5,
        ("normal", 2, 2): 0.6, ("normal", 4, 1): 0.7,  # node 1: edges 2 and 4
    })
    genotype = derive(weights, space)
    assert genotype.normal[0] == (("sep_conv_3x3", 0), ("skip_connect", 1))
    assert genotype.normal[1] == (("sep_conv_3x3", 0), ("skip_connect", 2))
    for node in genotype.normal + genotype.reduce:
        assert all(op != "none" for op, _ in node)


def test_s3_edge_choice_excludes_none_weight():
    space = get_space("s3", nodes=1)
    # edge 0 has the biggest overall weight but only on `none`; node 0 has 2 edges: both kept.
    genotype = derive(_weights(space, {("normal", 0, 0): 0.99, ("normal", 1, 2): 0.3}), space)
    assert [source for _, source in genotype.normal[0]] == [0, 1]


def test_s1_heterogeneous_lists_use_each_edges_own_ops():
    space = get_space("s1")
    # normal edge 5 offers (max_pool_3x3, skip_connect): index 0 is max_pool, not `none`.
    weights = _weights(space, {("normal", 5, 0): 0.9, ("normal", 6, 1): 0.8,
                               ("normal", 12, 1): 0.7, ("normal", 13, 0): 0.75,
                               ("reduce", 1, 1): 0.9})
    genotype = derive(weights, space)
    assert genotype.normal[2] == (("max_pool_3x3", 0), ("sep_conv_3x3", 1))
    assert genotype.normal[3] == (("dil_conv_5x5", 3), ("dil_conv_3x3", 4))
    assert ("dil_conv_3x3", 1) in genotype.reduce[0]


def test_s5_keeps_both_edges_of_its_single_node():
    space = get_space("s5")  # sep_conv_3x3, skip_connect, max_pool_3x3
    weights = _weights(space, {("normal", 0, 2): 0.5, ("normal", 1, 1): 0.5,
                               ("reduce", 0, 0): 0.5, ("reduce", 1, 2): 0.5})
    genotype = derive(weights, space)
    assert genotype.nodes == 1
    assert genotype.normal == ((("max_pool_3x3", 0), ("skip_connect", 1)),)
    assert genotype.reduce == ((("sep_conv_3x3", 0), ("max_pool_3x3", 1)),)
    assert genotype.concat == {"normal": (2,), "reduce": (2,)}


def test_json_round_trip(tmp_path):
    space = get_space("darts")
    genotype = derive({c: torch.rand(space.alpha_shape(c)) for c in ("normal", "reduce")}, space)
    path = tmp_path / "genotype.json"
    save_genotype(genotype, path)
    data = json.loads(path.read_text())
    assert data["normal_concat"] == [2, 3, 4, 5]
    assert load_genotype(path) == genotype


@pytest.mark.parametrize("payload", [
    "{not json", '{"normal": []}', '{"normal": [["skip_connect", 0]], "reduce": []}',
    '{"normal": [["skip_connect", 0], ["skip_connect", 0]], '
    '"reduce": [["skip_connect", 0], ["skip_connect", 1]]}',
    '{"normal": [["skip_connect", "0"], ["skip_connect", 1]], '
    '"reduce": [["skip_connect", 0], ["skip_connect", 1]]}',
    '"__import__(\\"os\\")"',
])
def test_malformed_genotype_files(tmp_path, payload):
    path = tmp_path / "g.json"
    path.write_text(payload)
    with pytest.raises(GenotypeError):
        load_genotype(path)


def test_one_hot_selects_exactly_the_genotype():
    space = get_space("s1")
    genotype = derive({c: torch.rand(space.alpha_shape(c)) for c in ("normal", "reduce")}, space)
    weights = one_hot(genotype, space)
    for cell in ("normal", "reduce"):
        assert weights[cell].sum().item() == 2 * space.nodes
        assert set(weights[cell].unique().tolist()) == {0.0, 1.0}
    assert derive(weights, space) == genotype


def test_one_hot_rejects_ops_the_space_does_not_offer():
    genotype = genotype_from_dict({"normal": [["sep_conv_5x5", 0], ["skip_connect", 1]],
                                   "reduce": [["skip_connect", 0], ["skip_connect", 1]]})
    with pytest.raises(GenotypeError, match="not offered"):
        one_hot(genotype, get_space("s5"))
    assert isinstance(genotype, Genotype)


def test_known_genotype_by_name_and_run_directory(tmp_path):
    from rdarts.domains.image.genotypes import load_image_genotype

    darts_v2 = load_image_genotype("darts_v2")
    check_fits(darts_v2, get_space("darts"))
    assert darts_v2.normal[3] == (("skip_connect", 0), ("dil_conv_3x3", 2))
    save_genotype(darts_v2, tmp_path / "genotype.json")
    assert load_genotype(tmp_path) == darts_v2
