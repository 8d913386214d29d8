"""Long-running front ends: the warm service, HTTP server, MCP server, file watcher and daemon."""
