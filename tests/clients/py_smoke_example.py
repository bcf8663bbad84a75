"""Smoke example for the Python MCP SDK client (`mcp` 2.3.0) against a real peer.

Run with the peers' venv (scripts/install-peers.sh installs it):

    .peers/bin/python tests/clients/py_smoke_example.py                      # stdio, modes auto + legacy
    .peers/bin/python tests/clients/py_smoke_example.py --http http://127.0.0.1:3101/mcp
    .peers/bin/python tests/clients/py_smoke_example.py --sse  http://127.0.0.1:3102/sse
    .peers/bin/python tests/clients/py_smoke_example.py --stdio CMD [ARGS...]   # any stdio server with `echo`

For each target/mode it connects, prints the negotiated protocol version, lists tools and
calls `echo` with {"message": "hi"}. Exits non-zero on the first failure.

mcp 2.3.0 client API, as used here:
  * `Client(server, *, mode="auto"|"legacy"|"2026-07-28", read_timeout_seconds=..., ...)`
    is an async context manager (`async with Client(...) as client:`); connecting happens
    in `__aenter__` (initialize, or server/discover probe in "auto").
  * `server` is a `StdioServerParameters(command=..., args=[...], env=..., cwd=...)` for
    stdio, a URL `str` for Streamable HTTP, or any Transport (an async context manager
    yielding (read, write) streams) such as `mcp.client.sse.sse_client(url)` for the old
    HTTP+SSE transport. A plain str is always treated as an HTTP URL, never a command.
  * `client.protocol_version` -> negotiated version string; `client.server_info` -> Implementation | None.
  * `await client.list_tools()` -> ListToolsResult (`.tools: list[Tool]`, `.next_cursor`).
  * `await client.call_tool(name, arguments)` -> CallToolResult (`.content: list[ContentBlock]`,
    `.structured_content`, `.is_error`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client

REPO = Path(__file__).resolve().parents[2]
EVERYTHING = REPO / ".peers" / "bin" / "mcp-server-everything"


async def smoke(label: str, server: Any, mode: str) -> None:
    async with Client(server, mode=mode, read_timeout_seconds=30) as client:
        info = client.server_info
        tools = await client.list_tools()
        names = [t.name for t in tools.tools]
        assert "echo" in names, f"{label}: no echo tool in {names}"
        result = await client.call_tool("echo", {"message": "hi"})
        assert not result.is_error, f"{label}: echo returned an error: {result}"
        text = result.content[0].text  # type: ignore[union-attr]
        assert "hi" in text, f"{label}: unexpected echo result {text!r}"
        print(
            f"ok  {label:<8} mode={mode:<7} protocol={client.protocol_version} "
            f"server={info.name if info else None} tools={len(names)} echo={text!r}"
        )


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--http", metavar="URL", help="Streamable HTTP endpoint (…/mcp)")
    ap.add_argument("--sse", metavar="URL", help="legacy HTTP+SSE endpoint (…/sse)")
    ap.add_argument("--stdio", nargs=argparse.REMAINDER, help="stdio server command and args")
    a = ap.parse_args()

    runs: list[tuple[str, Any, str]] = []
    if a.http:
        runs += [("http", a.http, "auto"), ("http", a.http, "legacy")]
    if a.sse:
        # sse_client(url) is a single-use transport: build one per connection.
        runs += [("sse", sse_client(a.sse), "legacy")]
    if a.stdio or not (a.http or a.sse):
        cmd = a.stdio or [str(EVERYTHING)]
        # env is merged over the SDK's filtered default environment (HOME, PATH, …).
        params = StdioServerParameters(command=cmd[0], args=cmd[1:], env={"PATH": os.environ.get("PATH", "")})
        runs += [("stdio", params, "auto"), ("stdio", params, "legacy")]

    for label, server, mode in runs:
        await smoke(label, server, mode)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
