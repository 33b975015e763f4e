"""The domain interface and cell types as data: what the next domains (an upsampling cell with
four inputs, a recurrent cell keeping one predecessor per node) rely on."""

from __future__ import annotations

import pytest
import torch

from rdarts.core.alpha import Architecture, alpha_entry_names
from rdarts.core.genotype import (
    check_fits,
    derive,
    genotype_from_dict,
    one_hot,
    sample_genotype,
)
from rdarts.core.space import CellLayout, CellSpace, CellType, edge_endpoints, num_edges
from rdarts.domains.base import Score
from rdarts.domains.registry import domain_names, get_domain
from rdarts.errors import ConfigError, GenotypeError, SpaceError

UPSAMPLE = CellLayout("upsample", inputs=4, keep=["all", 2, 2])
NORMAL = CellLayout("normal", inputs=2, keep=2)
RECURRENT = CellLayout("recurrent", inputs=1, keep=1)
S6_OPS = ("sep_conv_3x3", "max_pool_3x3", "skip_connect")


def _s6_like() -> CellSpace:
    cells = tuple(layout.uniform(S6_OPS, 3) for layout in (NORMAL, UPSAMPLE))
    return CellSpace("s6-like", cells, S6_OPS)


def test_edges_and_alpha_of_cells_with_other_input_counts():
    space = _s6_like()
    assert space.cell("normal").num_edges == 9 and space.cell("upsample").num_edges == 15
    assert space.cell("upsample").keep == (4, 2, 2)
    assert space.num_alpha == (9 + 15) * 3
    assert edge_endpoints(2, inputs=4)[:5] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
    assert num_edges(8, inputs=1) == 36  # the recurrent cell of DARTS
    assert len(alpha_entry_names(space)) == space.num_alpha
    assert [a.shape for a in Architecture(space).parameters_list()] == [(9, 3), (15, 3)]


def test_upsampling_node_zero_keeps_all_four_inputs():
    space = _s6_like()
    weights = {c.name: torch.rand(c.alpha_shape) for c in space.cells}
    genotype = derive(weights, space)
    assert [s for _, s in genotype.cell("upsample")[0]] == [0, 1, 2, 3]
    assert [len(node) for node in genotype.cell("upsample")] == [4, 2, 2]
    assert genotype.concat["upsample"] == (4, 5, 6)
    data = genotype.to_dict()
    assert len(data["upsample"]) == 8 and data["upsample_concat"] == [4, 5, 6]
    assert genotype_from_dict(data, layouts=[NORMAL, UPSAMPLE]) == genotype
    check_fits(genotype, space)
    assert derive(one_hot(genotype, space), space) == genotype


def test_recurrent_cell_keeps_one_predecessor_and_reads_back_from_its_concat():
    cell = RECURRENT.uniform(("relu", "identity"), 8)
    space = CellSpace("rnn-like", (cell,), ("relu", "identity"))
    genotype = sample_genotype(space, torch.Generator().manual_seed(0))
    assert all(len(node) == 1 for node in genotype.cell("recurrent"))
    assert all(src <= i for i, ((_, src),) in enumerate(genotype.cell("recurrent")))
    data = genotype.to_dict()
    assert data["recurrent_concat"] == list(range(1, 9))
    assert genotype_from_dict(data) == genotype  # grouping inferred from the concat


def test_genotype_that_does_not_fit_the_layout_is_refused():
    with pytest.raises(GenotypeError, match="do not fit the upsample cell"):
        genotype_from_dict({"normal": [["skip_connect", 0], ["skip_connect", 1]] * 3,
                            "upsample": [["skip_connect", 0]] * 7}, layouts=[NORMAL, UPSAMPLE])
    with pytest.raises(GenotypeError, match="distinct sources"):
        genotype_from_dict({"recurrent": [["relu", 1]], "recurrent_concat": [1]})


def test_cell_type_validation_names_the_problem():
    with pytest.raises(SpaceError, match="keeps"):
        CellSpace("bad", (CellType("normal", 2, 1, (("skip_connect",),) * 2, (3,)),))
    with pytest.raises(SpaceError, match="unknown op 'conv'"):
        CellSpace("bad", (NORMAL.uniform(("conv",), 1),), S6_OPS)


def test_score_direction_picks_the_best():
    values = {"a": 0.3, "b": 0.1, "c": 0.3}
    assert Score("accuracy", higher_is_better=True).best(values) == "a"
    assert Score("epe", higher_is_better=False).best(values) == "b"


def test_registry_knows_the_image_domain_and_refuses_others():
    assert "image" in domain_names()
    image = get_domain("image")
    assert image.score.to_dict() == {"name": "accuracy", "higher": True}
    assert set(image.spaces()) >= {"darts", "s1", "s2", "s3", "s4", "s5"}
    assert image.regularizers["l2"].setting == "weight_decay"
    with pytest.raises(ConfigError, match="unknown domain 'audio'"):
        get_domain("audio")


def test_image_domain_batches_and_plan():
    from rdarts.domains.image.datasets import random_dataset
    from rdarts.domains.image.domain import ImageDomain
    from rdarts.search.config import resolve

    config = resolve(overrides={"space": "s3", "nodes": 1, "layers": 3, "channels": 4,
                                "batch_size": 8, "epochs": 4, "drop_path": 0.3,
                                "cutout_prob": 0.5, "device": "cpu"})
    domain = ImageDomain(dataset=random_dataset(40, size=8))
    data = domain.search_data(config, torch.device("cpu"))
    batch = data.train.next()
    assert batch.inputs[0].shape == (8, 3, 8, 8) and batch.size == 8
    probes = data.probe(2, torch.Generator().manual_seed(0))
    assert len(probes) == 2 and probes[0].targets.shape == (8,)
    plan = domain.plan(config, 3, {"drop_path": 0.6})
    assert plan.forward == {"drop_path_prob": pytest.approx(0.6)}
    assert plan.record["cutout_prob"] == pytest.approx(0.5)
    supernet = domain.supernet(domain.space("s3", 1), config, data)
    weights = Architecture(domain.space("s3", 1))()
    outputs = supernet(*batch.inputs, weights)
    assert domain.loss(outputs, batch).dim() == 0
    sums = {k: v.item() for k, v in domain.metrics(outputs, batch).items()}
    assert 0.0 <= domain.summarise(sums)["accuracy"] <= 1.0
