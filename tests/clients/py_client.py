"""Drives Baton with the official Python MCP SDK client (`mcp` 2.3.0), as a user's agent
would. Prints one JSON line per run; exits non-zero on the first failure.

    python py_client.py --mode auto|legacy --stdio BATON serve --config FILE
    python py_client.py --mode auto|legacy --http http://127.0.0.1:PORT/mcp
    python py_client.py --mode legacy --sse http://127.0.0.1:PORT/sse
    ... [--header "Authorization: Bearer KEY"] [--echo-tool fault__echo]

Each run lists tools, calls `everything__echo` and `baton__status`, and reports the
negotiated protocol version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


async def run(server: Any, mode: str, echo_tool: str) -> dict[str, Any]:
    async with Client(server, mode=mode, read_timeout_seconds=60) as client:
        tools = await client.list_tools()
        names = [tool.name for tool in tools.tools]
        echo = await client.call_tool(echo_tool, {"message": "from python"})
        status = await client.call_tool("baton__status", {})
        return {
            "mode": mode,
            "protocol": client.protocol_version,
            "tools": names,
            "echo": echo.content[0].text,  # type: ignore[union-attr]
            "echo_is_error": bool(echo.is_error),
            "status_is_error": bool(status.is_error),
        }


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--http")
    parser.add_argument("--sse")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--echo-tool", default="everything__echo")
    parser.add_argument("--stdio", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    if args.http and headers:
        server: Any = streamable_http_client(
            args.http, http_client=create_mcp_http_client(headers=headers)
        )
    elif args.http:
        server = args.http
    elif args.sse:
        server = sse_client(args.sse, headers=headers or None)
    else:
        command = args.stdio
        server = StdioServerParameters(
            command=command[0], args=command[1:], env={"PATH": os.environ.get("PATH", "")}
        )
    print(json.dumps(await run(server, args.mode, args.echo_tool)))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
