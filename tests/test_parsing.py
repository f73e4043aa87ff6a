"""YAML and JSON within bounds: depth, alias expansion and cycles are refused before they recurse or expand."""

import pytest

from neurokd.errors import UserError
from neurokd.parsing import json_depth, load_json_text, load_yaml_text


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth('{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert json_depth('"\\"[[["') == 0


def test_json_within_and_beyond_the_depth_limit():
    assert load_json_text("[" * 32 + "]" * 32, "x") == eval("[" * 32 + "]" * 32)  # noqa: S307 - a literal
    with pytest.raises(UserError, match="x: nested deeper than 32 levels"):
        load_json_text("[" * 33 + "]" * 33, "x")
    with pytest.raises(UserError, match="x: not valid JSON"):
        load_json_text("1" * 5000, "x")  # beyond Python's int digits limit


def _bomb(width: int, levels: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines)


def test_yaml_aliases_are_counted_expanded():
    doc = load_yaml_text(_bomb(3, 4), "y")
    assert len(doc["l3"]) == 3 and doc["l3"][0][0][0] == ["x", "x", "x"]
    with pytest.raises(UserError, match=r"y: expands to more than 100,000 values through YAML aliases"):
        load_yaml_text(_bomb(9, 6), "y")


@pytest.mark.parametrize("text,needle", [
    ("a: &a [1, *a]", "cycle"), ("a: &a {b: *a}", "cycle"), ("a: " + "[" * 40 + "]" * 40, "deeper than 32"),
    ("a: [1, 2", "malformed YAML at line 1"), ("seed: " + "9" * 5000, "unusable value"),
])
def test_yaml_that_would_recurse_or_fail(text, needle):
    with pytest.raises(UserError, match=needle):
        load_yaml_text(text, "y")
