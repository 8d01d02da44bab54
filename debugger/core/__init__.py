"""The pure core: the event schema, the HTTP exchange, the filter language, lint, Pretty and replay planning.

No I/O, no clock, no globals: time and ids are passed in. Nothing here imports aiohttp, textual, rich,
click or sqlite_utils (the import contracts in pyproject.toml hold it)."""
