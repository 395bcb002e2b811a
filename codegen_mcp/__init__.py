"""codegen-mcp: run and orchestrate Codegen coding agents over HTTP, MCP and a CLI."""

__version__ = "0.1.0"
