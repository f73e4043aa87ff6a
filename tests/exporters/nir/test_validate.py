"""NIR values checked by meaning: impossible ones name the node and the field; 'no leak' infinities are valid."""

import nir
import numpy as np
import pytest

from neurokd.errors import UserError
from neurokd.exporters.nir import from_nir
from neurokd.exporters.nir.validate import check_node


def _lif(**kw):
    args = {"tau": np.full(3, 1e-3), "r": np.full(3, 10.0), "v_leak": np.zeros(3), "v_threshold": np.ones(3)}
    return nir.LIF(**{**args, **kw})


@pytest.mark.parametrize("node,needle", [
    (nir.Affine(weight=np.full((2, 3), np.nan), bias=np.zeros(2)), "weight holds NaN or infinite values"),
    (nir.Affine(weight=np.ones((2, 3)), bias=np.array([np.inf, 0])), "bias holds NaN or infinite values"),
    (nir.Linear(weight=np.ones((2, 3)) * 1j), "weight holds complex values"),
    (nir.Linear(weight=np.ones((0, 3))), "weight is empty"),
    (_lif(tau=np.full(3, np.nan)), "tau holds NaN"),
    (_lif(tau=np.zeros(3)), "tau must be > 0"),
    (_lif(r=np.full(3, -1.0)), "r must be > 0"),
    (_lif(v_threshold=np.full(3, np.inf)), "v_threshold holds NaN or infinite values"),
    (nir.IF(r=np.full(3, np.inf), v_threshold=np.ones(3)), "r holds NaN or infinite values"),
    (nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([0, 1]), padding=np.array([0, 0])),
     "stride must be between 1 and 1048576"),
    (nir.AvgPool2d(kernel_size=np.array([1.5, 2]), stride=np.array([1, 1]), padding=np.array([0, 0])),
     "kernel_size must hold whole numbers"),
])
def test_impossible_values_name_the_node_and_field(node, needle):
    with pytest.raises(UserError, match=rf"^src: node 'n' \({type(node).__name__}\): {needle}"):
        check_node(node, "n", "src")


def test_no_leak_infinities_are_valid():
    check_node(_lif(tau=np.full(3, np.inf), r=np.full(3, np.inf)), "n", "src")


def test_an_invalid_graph_object_is_refused_by_from_nir():
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}),
                            "a": nir.Affine(weight=np.full((2, 3), np.nan), bias=np.zeros(2)),
                            "output": nir.Output(output_type={"output": np.array([2])})},
                     edges=[("input", "a"), ("a", "output")], type_check=False)
    with pytest.raises(UserError, match=r"NIR graph <graph>: node 'a' \(Affine\): weight holds NaN"):
        from_nir(g)
