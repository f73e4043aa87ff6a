"""YAML and JSON text parsed within bounds: nesting depth, YAML alias expansion, number sizes.

Both parsers are recursive (PyYAML's composer, ``json.loads``) and YAML aliases share one node many times over,
so a 600-byte document can nest deeper than Python's recursion limit or expand to billions of values (an
"alias bomb"). :func:`load_yaml_text` and :func:`load_json_text` check a document's depth with iterative scans
before parsing, and a YAML document's size with its aliases expanded before building it, against
:mod:`neurokd.limits`; every problem is one line raised as the caller's error class.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from neurokd.errors import UserError
from neurokd.limits import ENV, limits

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _too_deep(where: str, depth: int, error: type[UserError]) -> UserError:
    return error(f"{where}: nested deeper than {depth} levels; real files nest a few levels "
                 f"(or raise {ENV['max_depth'][0]})")


def json_depth(text: str) -> int:
    """How deep JSON ``text`` nests (brackets outside strings; computed without recursion)."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def load_json_text(text: str, where: str, error: type[UserError] = UserError) -> Any:
    """Parse JSON ``text`` (named ``where`` in errors) within the depth limit."""
    depth = limits().max_depth
    if json_depth(text) > depth:
        raise _too_deep(where, depth, error)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, or an integer of thousands of digits
        raise error(f"{where}: not valid JSON ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def _yaml_problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"malformed YAML{at}: {getattr(e, 'problem', None) or 'invalid YAML'}"


def _yaml_depth(text: str) -> int:
    depth = deepest = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):  # PyYAML's parser is iterative
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            deepest = max(deepest, depth)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return deepest


def _expanded_size(node: yaml.Node, limit: int, memo: dict[int, int], open_: set[int]) -> int:
    """Nodes under ``node`` with every alias expanded (capped just above ``limit``); -1 for a cycle."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_:
        return -1
    open_.add(key)
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    total = 1
    for child in children:
        size = _expanded_size(child, limit, memo, open_)
        if size < 0:
            return -1
        total = min(total + size, limit + 1)
    open_.discard(key)
    memo[key] = total
    return total


def load_yaml_text(text: str, where: str, error: type[UserError] = UserError) -> Any:
    """Parse one YAML document (safe loader) within the depth and expanded-size limits."""
    lim = limits()
    try:
        if _yaml_depth(text) > lim.max_depth:
            raise _too_deep(where, lim.max_depth, error)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None
        size = _expanded_size(node, lim.yaml_nodes, {}, set())
        if size < 0:
            raise error(f"{where}: a YAML alias refers to a node that contains it (a cycle); write the values out")
        if size > lim.yaml_nodes:
            raise error(f"{where}: expands to more than {lim.yaml_nodes:,} values through YAML aliases (an alias "
                        f"bomb?) (or raise {ENV['yaml_nodes'][0]})")
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise error(f"{where}: {_yaml_problem(e)}") from None
    except (ValueError, OverflowError, RecursionError) as e:  # e.g. an integer of thousands of digits
        raise error(f"{where}: unusable value ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
