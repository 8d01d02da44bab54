"""Read routing files (the I/O shell around :mod:`debugger.core.routing`), as planfile reads tracking plans."""

from __future__ import annotations

from pathlib import Path

from debugger.core.routing import Routing, RoutingError, parse_text


def read_routing(path: Path) -> Routing:
    """Read and parse a routing file (YAML or JSON).

    Raises:
        RoutingError: unreadable, or not a routing file; the message says which file, where and why.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingError(f"{path}: cannot read ({exc.strerror or exc}).") from exc
    except UnicodeDecodeError as exc:
        raise RoutingError(f"{path}: not UTF-8 text.") from exc
    return parse_text(text, str(path))
