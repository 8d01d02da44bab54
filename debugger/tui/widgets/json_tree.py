"""A foldable, highlighted JSON tree (the Raw tab). Labels are ``Text``: payload strings are
untrusted and never parsed as markup."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from debugger.core.pretty.render import inert

#: Beyond this many nodes the rest of a container is summarised (a 32 KB message stays whole).
MAX_NODES = 5000


def scalar(value: Any) -> Text:
    """A JSON scalar, coloured by type."""
    if value is None:
        return Text("null", style="italic magenta")
    if value is True or value is False:
        return Text("true" if value else "false", style="magenta")
    if isinstance(value, int | float):
        return Text(repr(value), style="cyan")
    return Text('"' + inert(value, 300) + '"', style="green")


def _label(key: str | None, value: Any) -> Text:
    text = Text()
    if key is not None:
        text.append(inert(key, 80), style="bold blue")
        text.append(": ")
    if isinstance(value, dict):
        text.append(f"{{…}} {len(value)} key{'s' if len(value) != 1 else ''}", style="dim")
    elif isinstance(value, list):
        text.append(f"[…] {len(value)} item{'s' if len(value) != 1 else ''}", style="dim")
    else:
        text.append_text(scalar(value))
    return text


class JsonTree(Tree[None]):
    """``enter``/``space`` fold and unfold; everything starts unfolded."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("(no event selected)", style="dim"), id=id)
        self.show_root = True
        self.guide_depth = 3

    def show(self, label: str, value: Any) -> None:
        """Replace the tree with ``value``."""
        self.clear()
        self.root.set_label(Text(label, style="bold"))
        budget = [MAX_NODES]
        if isinstance(value, dict | list):
            self._fill(self.root, value, budget)
        else:
            self.root.add_leaf(_label(None, value))
        self.root.expand_all()
        self.move_cursor(self.root)

    def _fill(self, node: TreeNode[None], value: dict[str, Any] | list[Any], budget: list[int]) -> None:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for index, (key, member) in enumerate(items):
            if budget[0] <= 0:
                node.add_leaf(Text(f"… {len(value) - index} more", style="dim"))
                return
            budget[0] -= 1
            name = str(key) if isinstance(value, dict) else f"[{key}]"
            if isinstance(member, dict | list) and member:
                self._fill(node.add(_label(name, member)), member, budget)
            else:
                node.add_leaf(_label(name, member))
