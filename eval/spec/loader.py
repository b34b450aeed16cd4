"""Reading a campaign file: text -> a YAML document, strictly.

PyYAML's safe loader lets a later key silently replace an earlier one (`name: a` ... `name:
b`); here a duplicate key in any mapping is an error naming the key and both lines. Every
problem is a ConfigError naming the file and where.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from chaos_eval.errors import ConfigError


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if first is not None:
                raise _DuplicateKey(
                    problem=f"duplicate key {key!r} (first given on line "
                    f"{first.start_mark.line + 1})",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> object:
    """The YAML document in `path`; ConfigError for an unreadable file or invalid YAML."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(file, "", f"cannot read: {e}") from None
    too_deep = ConfigError(file, "", f"nested too deeply (at most {MAX_DEPTH} levels)")
    try:
        doc = yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(file, where, f"invalid YAML: {problem}") from None
    except RecursionError:  # the YAML composer recurses once per level
        raise too_deep from None
    if _depth(doc) > MAX_DEPTH:
        raise too_deep
    return doc


MAX_DEPTH = 32  # the campaign format nests 5 levels; nothing valid comes near this


def _depth(doc: object) -> int:
    """How deeply lists and mappings nest (iterative: never recurses itself)."""
    deepest, todo = 0, [(doc, 0)]
    while todo:
        node, level = todo.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        if isinstance(node, Mapping):
            todo += [(v, level + 1) for v in node.values()]
        elif isinstance(node, list):
            todo += [(v, level + 1) for v in node]
    return deepest
