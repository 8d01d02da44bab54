"""Replay runs: read a selection, send it with aiohttp, record each delivery, resume what was cut short."""
