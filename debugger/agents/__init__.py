"""segdbg for coding agents: an MCP server over the same verbs as the CLI (docs/agents.md)."""
