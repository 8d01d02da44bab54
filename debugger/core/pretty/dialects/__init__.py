"""Per-library renderers behind :func:`debugger.core.pretty.render.render_call` (pure: ``str`` in, ``str`` out).

:mod:`.call` turns a stored message into a :class:`~.call.Call` (what the developer wrote, with
library-added fields removed); :mod:`.literal` writes JSON values as source literals; one
module per language family writes the call.
"""
