"""Reading a campaign file: text -> a YAML document, strictly.

PyYAML's safe loader lets a later key silently replace an earlier one (`name: a` ... `name:
b`); here a duplicate key in any mapping is an error naming the key and both lines. Every
problem is a ConfigError naming the file and where.
"""

from __future__ import annotations

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
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(file, where, f"invalid YAML: {problem}") from None
