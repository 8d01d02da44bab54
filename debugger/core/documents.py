"""Reading the JSON or YAML files people write (tracking plans, routing files, transformations). Pure."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader reading booleans as YAML 1.2 does: only ``true`` and ``false``, so a
    property called ``on``, ``yes`` or ``no`` stays a string (PyYAML follows YAML 1.1)."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def is_json(text: str) -> bool:
    """Whether a document is JSON rather than YAML (it starts with an object or an array)."""
    return text.lstrip()[:1] in ("{", "[")


def load_text(text: str, source: str, error: type[Exception]) -> Any:
    """The JSON or YAML document in ``text``; ``error`` raised with ``source``, the line (and column)
    and what is wrong: ``plan.yaml, line 5, column 6: not valid JSON or YAML (...)``."""
    try:
        return json.loads(text) if is_json(text) else yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 - a safe loader
    except json.JSONDecodeError as exc:
        raise error(f"{source}, line {exc.lineno}: not valid JSON or YAML ({exc.msg}).") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{source}{where}: not valid JSON or YAML ({problem}).") from exc
