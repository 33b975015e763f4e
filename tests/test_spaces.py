"""Search spaces: the built-ins edge by edge, and validated user files."""

from __future__ import annotations

import pytest

from rdarts.core.space import edge_endpoints, num_edges
from rdarts.domains.image.spaces import BUILTIN_SPACES, get_space, load_space
from rdarts.errors import SpaceError


def test_edge_numbering_is_node_by_node():
    assert edge_endpoints(4)[:5] == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    assert edge_endpoints(4)[9:] == [(3, 0), (3, 1), (3, 2), (3, 3), (3, 4)]
    assert [num_edges(n) for n in (1, 2, 3, 4, 5)] == [2, 5, 9, 14, 20]


@pytest.mark.parametrize(("name", "alphas"), [("s1", 56), ("s2", 56), ("s3", 84), ("s4", 56),
                                              ("darts", 224), ("s5", 12)])
def test_alpha_counts_match_the_spec(name, alphas):
    assert BUILTIN_SPACES[name].num_alpha == alphas


def test_s1_edges_as_in_the_spec():
    s1 = get_space("s1")
    assert s1.normal[0] == ("skip_connect", "dil_conv_3x3")
    assert s1.normal[5] == ("max_pool_3x3", "skip_connect")
    assert s1.normal[10] == ("max_pool_3x3", "skip_connect")
    assert s1.normal[13] == ("dil_conv_3x3", "dil_conv_5x5")
    assert s1.reduce[1] == ("max_pool_3x3", "dil_conv_3x3")
    assert s1.reduce[6] == ("max_pool_3x3", "sep_conv_3x3")
    assert s1.reduce[13] == ("skip_connect", "dil_conv_5x5")


def test_uniform_spaces_and_s5():
    assert set(get_space("s3").normal) == {("none", "skip_connect", "sep_conv_3x3")}
    assert set(get_space("s4").reduce) == {("noise", "sep_conv_3x3")}
    s5 = get_space("s5")
    assert s5.nodes == 1 and len(s5.normal) == 2
    assert s5.normal[0] == ("sep_conv_3x3", "skip_connect", "max_pool_3x3")


def test_node_count_override():
    assert get_space("s3", nodes=2).num_edges == 5
    with pytest.raises(SpaceError, match="s1"):
        get_space("s1", nodes=3)


def test_unknown_space_name():
    with pytest.raises(SpaceError, match="unknown search space 'bogus'"):
        get_space("bogus")


def test_space_file_with_per_edge_lists(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nnodes: 1\n"
        "normal:\n  edges: [[skip_connect, sep_conv_3x3], [avg_pool_3x3, sep_conv_5x5]]\n"
        "reduce:\n  ops: [max_pool_3x3, dil_conv_3x3]\n"
    )
    space = load_space(path)
    assert space.name == "mine" and space.nodes == 1
    assert space.normal[1] == ("avg_pool_3x3", "sep_conv_5x5")
    assert space.reduce == (("max_pool_3x3", "dil_conv_3x3"),) * 2
    assert get_space(str(path)) == space


@pytest.mark.parametrize(("text", "message"), [
    ("nodes: 1\nops: [sep_conv_4x4]\n", "unknown op 'sep_conv_4x4' on|unknown op 'sep_conv_4x4'"),
    ("nodes: 0\nops: [skip_connect]\n", "nodes"),
    ("nodes: 1\nnormal:\n  edges: [[skip_connect]]\nreduce:\n  ops: [skip_connect]\n",
     "1 edges, expected 2"),
    ("nodes: 1\nnormal:\n  edges: [[skip_connect], [skip_connect, sep_conv_3x3]]\n"
     "reduce:\n  ops: [skip_connect]\n", "same number of ops"),
    ("nodes: 1\nops: [none]\n", "only 'none'"),
    ("[1, 2\n", "not valid YAML"),
    ("- just a list\n", "expected a mapping"),
])
def test_malformed_space_files(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError, match=message):
        load_space(path)


def test_unknown_op_message_names_edge_and_known_ops(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("nodes: 1\nnormal:\n  edges: [[skip_connect], [sep_conv_4x4]]\n"
                    "reduce:\n  ops: [skip_connect]\n")
    with pytest.raises(SpaceError, match=r"edge 1 of the normal cell: unknown op 'sep_conv_4x4'; "
                                         r"known ops: none, noise"):
        load_space(path)
