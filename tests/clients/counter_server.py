"""A stateful stdio MCP server for isolation tests: each process counts the calls it got.

`bump` returns "<count> <pid>": with one shared process two clients see 1 then 2; with
`isolation: per_client` each client gets its own process and sees 1. `crash` kills the
process in the middle of a call.
"""

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("counter")
calls = 0


@server.tool()
def bump() -> str:
    """Count this call and say which process answered."""
    global calls
    calls += 1
    return f"{calls} {os.getpid()}"


@server.tool()
def crash() -> str:
    """Exit the process at once, mid-call (for crash tests)."""
    os._exit(3)


if __name__ == "__main__":
    server.run()
