"""A stateful stdio MCP server for isolation tests: each process counts the calls it got.

`bump` returns "<count> <pid>": with one shared process two clients see 1 then 2; with
`isolation: per_client` each client gets its own process and sees 1. `crash` kills the
process in the middle of a call.
"""

import os
import time
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

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


peeks = 0


@server.tool()
async def hang() -> str:
    """Never answers (for tests of a hung server)."""
    import anyio

    await anyio.sleep_forever()
    return "unreachable"



@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def peek(key: str) -> str:
    """Read-only for the caller; counts its own executions (for cache tests)."""
    global peeks
    peeks += 1
    return f"{key} {peeks}"


failures = 0


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def fail() -> str:
    """A read-only tool whose every call is a tool error (isError), counting the calls."""
    global failures
    failures += 1
    raise ValueError(f"failure number {failures}")


@server.tool()
def failure_count() -> str:
    """How many times `fail` ran."""
    return str(failures)


def _crash_first_time(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text("crashed once")
        os._exit(3)
    return f"survived {os.getpid()}"


@server.tool(annotations=ToolAnnotations(idempotentHint=True))
def crash_once_idempotent(marker: str) -> str:
    """Crash the first time (when `marker` does not exist yet), answer after that."""
    return _crash_first_time(marker)


@server.tool()
def crash_once_unsafe(marker: str) -> str:
    """The same, without any hint that repeating it is safe."""
    return _crash_first_time(marker)


@server.tool()
def big_text(size: int) -> str:
    """A text of `size` bytes: the digits 0-9 repeated (for message-size tests)."""
    return ("0123456789" * (size // 10 + 1))[:size]


# The pipe Baton reads: the SDK moves it off fd 1 (to keep stray prints out of it).
STDOUT_PIPE = os.readlink("/proc/self/fd/1")


@server.tool()
def close_stdout() -> str:
    """Close stdout (every fd of the pipe it was) and stay alive without ever answering."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == STDOUT_PIPE:
                os.close(int(fd))
        except OSError:
            pass
    time.sleep(3600)
    return "unreachable"


if __name__ == "__main__":
    server.run()
