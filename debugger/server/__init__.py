"""The aiohttp server: ingest routes around :mod:`debugger.core.http.wire`, the debugger API, connection guards."""
