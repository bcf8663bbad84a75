"""Runs a workflow over MCP with the official Python SDK client as the host whose model
answers sampling requests: a workflow whose phases delegate to modes with
`executor: sampling` asks this client for each task. Each answer is `ANSWER-<n>`, and every
prompt received is printed, so the test can see what context each task got.

    python sampling_workflow.py http://127.0.0.1:PORT/mcp workflow__NAME

Prints one JSON line: {"is_error", "structured", "prompts": [...]}.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from mcp import Client
from mcp import types

PROMPTS: list[str] = []


async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    prompt = " ".join(getattr(m.content, "text", "") for m in params.messages)
    if params.system_prompt:
        prompt = params.system_prompt + "\n" + prompt
    number = len(PROMPTS)
    PROMPTS.append(prompt)
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=f"ANSWER-{number} from the client's model"),
        model="test-model",
    )


async def main() -> int:
    url, tool = sys.argv[1], sys.argv[2]
    async with Client(url, mode="legacy", read_timeout_seconds=300, sampling_callback=sampling) as client:
        result = await client.call_tool(tool, {})
    print(json.dumps({"is_error": bool(result.is_error), "structured": result.structured_content, "prompts": PROMPTS}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
