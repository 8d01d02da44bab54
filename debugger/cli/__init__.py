"""The segdbg command line: :mod:`~debugger.cli.group` (the click group and the ``main`` entry
point), the shared :mod:`~debugger.cli.options`, and one module per command in ``commands/``.

``main`` and ``cli`` are re-exported here: ``segdbg = "debugger.cli:main"`` is the console script.
"""

from debugger.cli.group import cli, main

__all__ = ["cli", "main"]
