"""Drives Baton's built-in tools with the official Python MCP SDK client (`mcp` 2.3.0), as an
agent loop would, and checks every answer. Exits non-zero with the first failed check;
prints one JSON summary line on success.

    python builtin_tools.py --url http://127.0.0.1:PORT/mcp

Expects `baton serve --http` with the config the Rust test writes: modes imported from the
sample .roomodes plus `echoer` (executor: everything__echo), validation command `hello`,
the sample TODO.md in the project root, and a symlink `outside` to /etc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from mcp import Client
from mcp import types


class CheckFailed(Exception):
    pass


def check(condition: bool, what: str, detail: Any = None) -> None:
    if not condition:
        raise CheckFailed(f"{what}: {detail!r}")


def text_of(result: types.CallToolResult) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


async def call(client: Client, tool: str, args: dict[str, Any] | None = None, **kw: Any) -> types.CallToolResult:
    return await client.call_tool(tool, args or {}, **kw)


async def ok(client: Client, tool: str, args: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    result = await call(client, tool, args, **kw)
    check(not result.is_error, f"{tool} {args} succeeds", text_of(result))
    check(result.structured_content is not None, f"{tool} answers structuredContent", text_of(result))
    check(json.loads(text_of(result)) == result.structured_content, f"{tool} text is the same JSON")
    return result.structured_content  # type: ignore[return-value]


async def refused(client: Client, tool: str, args: dict[str, Any], needle: str, **kw: Any) -> str:
    result = await call(client, tool, args, **kw)
    message = text_of(result)
    check(bool(result.is_error), f"{tool} {args} is refused", message)
    check(needle in message, f"{tool} refusal names the problem ({needle})", message)
    return message


async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    prompt = " ".join(getattr(m.content, "text", "") for m in params.messages)
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=f"PLAN from the client's model; system={params.system_prompt!r}; saw={len(prompt)} chars; {prompt[:400]}"),
        model="test-model",
    )


async def annotations(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    expected = [
        "track_task_time", "get_time_tracking", "get_persistent_memory", "update_persistent_memory",
        "get_todo_status", "read_project_file", "write_project_file", "list_project_structure",
        "search_in_files", "backup_file", "restore_file", "get_system_status", "run_validation",
        "error_recovery", "sync_environment", "get_mode_capabilities", "switch_mode", "delegate_task",
    ]
    for name in expected:
        check(f"baton__{name}" in tools, "tool listed", name)
        schema = tools[f"baton__{name}"].input_schema
        check(schema.get("type") == "object" and schema.get("additionalProperties") is False, "precise schema", name)
    hints = lambda name: tools[f"baton__{name}"].annotations  # noqa: E731
    check(hints("read_project_file").read_only_hint is True, "read is read-only")
    check(hints("write_project_file").destructive_hint is True, "write is destructive")
    check(hints("write_project_file").read_only_hint is False, "write is not read-only")
    check(hints("update_persistent_memory").destructive_hint is False, "memory append is not destructive")
    check(hints("get_todo_status").idempotent_hint is True, "todo is idempotent")


async def time_and_memory(client: Client) -> None:
    await ok(client, "baton__track_task_time", {"action": "start", "task_id": "t1", "mode": "implementation-core", "task": "fix it", "priority": "todo"})
    await refused(client, "baton__track_task_time", {"action": "start", "task_id": "t1", "mode": "implementation-core", "priority": "todo"}, "already started")
    stopped = await ok(client, "baton__track_task_time", {"action": "stop", "task_id": "t1"})
    check(stopped["result"] == "completed" and stopped["duration_ms"] is not None, "stop closes the entry", stopped)
    await refused(client, "baton__track_task_time", {"action": "stop", "task_id": "never"}, "start it first")
    await refused(client, "baton__track_task_time", {"action": "start", "task_id": "t2", "mode": "m", "priority": "urgent"}, "not schedule or todo")
    report = await ok(client, "baton__get_time_tracking", {"mode": "implementation-core"})
    check(report["totals"]["count"] >= 1, "time report counts the task", report["totals"])
    check(any(s["name"] == "implementation-core" for s in report["by_mode"]), "per-mode summary", report["by_mode"])
    tsv = await ok(client, "baton__get_time_tracking", {"format": "tsv", "mode": "implementation-core"})
    lines = tsv["tsv"].splitlines()
    check(lines[0].split("\t")[:3] == ["timestamp", "mode", "task_id"] and any("\tt1\t" in line for line in lines[1:]), "tsv export", lines)

    section = "System Updates & Status"
    updated = await ok(client, "baton__update_persistent_memory", {"section": section, "text": "release 1.0.3", "mode": "implementation-core"})
    check(updated["entry"]["mode"] == "implementation-core", "entry keeps its mode", updated)
    await refused(client, "baton__update_persistent_memory", {"section": "Gossip", "text": "x"}, "Non-Obvious Implementation Patterns")
    memory = await ok(client, "baton__get_persistent_memory", {"section": section})
    check("release 1.0.3" in memory["markdown"], "memory holds the entry", memory["markdown"])

    # A memory with its own line cap (12): the oldest log entries move to the archive.
    for n in range(10):
        last = await ok(client, "baton__update_persistent_memory", {"memory": "tiny", "section": section, "text": f"tiny {n}"})
    check(last["lines"] <= 12 and last["max_lines"] == 12, "the memory's own cap", last)
    tiny = await ok(client, "baton__get_persistent_memory", {"memory": "tiny", "archive": True})
    archived = [e["text"] for e in tiny["archive"]["entries"]]
    kept = [e["text"] for s in tiny["sections"] for e in s["entries"]]
    check("tiny 0" in archived and "tiny 9" in kept and len(archived) + len(kept) == 10, "archived, not lost", (archived, kept))

    todo = await ok(client, "baton__get_todo_status", {})
    check((todo["done"], todo["total"]) == (3, 7), "TODO counts", (todo["done"], todo["total"]))
    await refused(client, "baton__get_todo_status", {"path": "../TODO.md"}, "outside")


async def concurrent_memory(url: str, clients: int, each: int) -> int:
    async def writer(index: int) -> None:
        async with Client(url, mode="legacy", read_timeout_seconds=60) as client:
            for n in range(each):
                await ok(client, "baton__update_persistent_memory", {"memory": "race", "section": "Development & Debug Commands", "text": f"writer {index} entry {n}"})

    await asyncio.gather(*(writer(i) for i in range(clients)))
    async with Client(url, mode="legacy", read_timeout_seconds=60) as client:
        memory = await ok(client, "baton__get_persistent_memory", {"memory": "race"})
    entries = [e for s in memory["sections"] for e in s["entries"]]
    texts = {e["text"] for e in entries}
    check(len(entries) == clients * each and len(texts) == clients * each, "no concurrent update lost", len(entries))
    return len(entries)


async def files(client: Client) -> None:
    written = await ok(client, "baton__write_project_file", {"path": "notes/a.txt", "content": "hello one\n", "create_dirs": True})
    check(written["created"] is True, "new file", written)
    read = await ok(client, "baton__read_project_file", {"path": "notes/a.txt"})
    check(read["content"] == "hello one\n" and read["sha256"] == written["sha256"], "read back", read)
    second = await ok(client, "baton__write_project_file", {"path": "notes/a.txt", "content": "hello two\n", "expected_sha256": read["sha256"]})
    check(second["backup"] is not None, "overwrite backs up the previous version", second)
    await refused(client, "baton__write_project_file", {"path": "notes/a.txt", "content": "x", "expected_sha256": read["sha256"]}, "changed")
    backups = await ok(client, "baton__backup_file", {"path": "notes/a.txt", "list": True})
    check(len(backups["backups"]) >= 1, "backups listed", backups)
    listed_by_restore = await ok(client, "baton__restore_file", {"path": "notes/a.txt", "list": True})
    check(listed_by_restore["backups"] == backups["backups"], "restore_file lists the backups", listed_by_restore)
    restored = await ok(client, "baton__restore_file", {"path": "notes/a.txt"})
    check(restored["safety_backup"] is not None, "restore backs up the current version first", restored)
    again = await ok(client, "baton__read_project_file", {"path": "notes/a.txt"})
    check(again["content"] == "hello one\n", "restored content", again)
    listed = await ok(client, "baton__list_project_structure", {})
    paths = [e["path"] for e in listed["entries"]]
    check("notes/a.txt" in paths and "TODO.md" in paths, "listing", paths)
    check(not any(p.startswith("ignored") for p in paths), ".gitignore honoured", paths)
    found = await ok(client, "baton__search_in_files", {"pattern": "Streamable\\s+HTTP", "context_lines": 1})
    check(found["matches"] and found["matches"][0]["path"] == "TODO.md", "search finds the line", found)
    check(len(found["matches"][0]["before"]) == 1, "context lines", found["matches"][0])
    for escape, needle in [("../x.txt", "outside"), ("/etc/passwd", "outside"), ("outside/passwd", "outside"), ("notes/../../x", "outside")]:
        await refused(client, "baton__read_project_file", {"path": escape}, needle)
        await refused(client, "baton__write_project_file", {"path": escape, "content": "x"}, needle)
    await refused(client, "baton__search_in_files", {"pattern": "("}, "regex")
    await refused(client, "baton__list_project_structure", {"path": "nowhere"}, "nowhere")
    await refused(client, "baton__backup_file", {"path": "missing.txt"}, "missing.txt")
    await refused(client, "baton__restore_file", {"path": "notes/a.txt", "backup_id": "nope"}, "nope")


async def system(client: Client) -> None:
    status = await ok(client, "baton__get_system_status", {})
    check(status["uptime_s"] >= 0 and status["memory"]["rss_bytes"] > 0, "uptime and memory", status)
    check(any(s["name"] == "everything" for s in status["servers"]), "servers listed", status["servers"])
    listed = await ok(client, "baton__run_validation", {})
    check([c["name"] for c in listed["commands"]] == ["hello"], "declared commands", listed)
    ran = await ok(client, "baton__run_validation", {"command": "hello"})
    check(ran["exit_code"] == 3 and ran["stdout"] == "hi\n" and ran["stderr"] == "err\n" and not ran["success"], "validation output", ran)
    await refused(client, "baton__run_validation", {"command": "rm -rf /"}, "no validation command")
    reset = await ok(client, "baton__error_recovery", {"action": "reset_breaker", "target": "everything"})
    check(reset["server"] == "everything", "reset", reset)
    restarted = await ok(client, "baton__error_recovery", {"action": "restart_server", "target": "everything"})
    check(restarted["ready"] is True, "restarted server is ready", restarted)
    await refused(client, "baton__error_recovery", {"action": "restart_server", "target": "nope"}, "no server named")
    await refused(client, "baton__error_recovery", {"action": "retry_run", "target": "no-such-run"}, "no-such-run")
    await refused(client, "baton__error_recovery", {"action": "reset_breaker", "target": "nope"}, "no server named")
    synced = await ok(client, "baton__sync_environment", {})
    check(synced["config"]["applied"] is True and "everything" in synced["servers_refreshed"], "sync", synced)


async def modes(client: Client) -> dict[str, Any]:
    caps = await ok(client, "baton__get_mode_capabilities", {})
    slugs = [m["slug"] for m in caps["modes"]]
    check({"implementation-core", "validation-static", "planning-analysis", "echoer"} <= set(slugs), "modes", slugs)
    await refused(client, "baton__switch_mode", {"mode": "pirate"}, "unknown mode")
    await refused(client, "baton__delegate_task", {"mode": "pirate", "instructions": "x"}, "unknown mode")
    await refused(client, "baton__get_mode_capabilities", {"mode": "pirate"}, "unknown mode")
    switched = await ok(client, "baton__switch_mode", {"mode": "planning-analysis"})
    check(switched["current"] == "planning-analysis", "switched", switched)
    await refused(client, "baton__write_project_file", {"path": "notes/p.md", "content": "x"}, "may not use edit tools")
    await ok(client, "baton__read_project_file", {"path": "TODO.md"})
    await ok(client, "baton__switch_mode", {"mode": "validation-static"})
    await ok(client, "baton__write_project_file", {"path": "notes/review.md", "content": "# review\n"})
    await refused(client, "baton__write_project_file", {"path": "src/main.rs", "content": "x", "create_dirs": True}, "\\.md$")
    await ok(client, "baton__switch_mode", {"mode": None})
    # The mode's time is recorded.
    report = await ok(client, "baton__get_time_tracking", {"mode": "planning-analysis"})
    check(report["totals"]["count"] >= 1, "switch_mode recorded in time tracking", report["totals"])

    delegated = await ok(client, "baton__delegate_task", {"mode": "echoer", "instructions": "List the open TODO items", "context": "TODO.md has 7 items"})
    echoed = json.dumps(delegated["output"])
    check("You echo" in echoed and "List the open TODO items" in echoed and "TODO.md has 7 items" in echoed, "the agent tool got the composed prompt", delegated)
    sampled = await ok(client, "baton__delegate_task", {"mode": "planning-analysis", "instructions": "Plan the next week"})
    out = json.dumps(sampled["output"])
    check("PLAN from the client's model" in out and "You analyse the state" in out and "Plan the next week" in out, "sampling executor", sampled)
    report = await ok(client, "baton__get_time_tracking", {})
    sources = {e["source"] for e in report["entries"]}
    check("delegation" in sources, "delegations recorded in time tracking", sources)
    return {"echo_run": delegated["run"], "sampling_run": sampled["run"]}


async def stateless_meta(url: str) -> None:
    # A 2026-07-28 client has no session: it names its mode per request.
    async with Client(url, mode="auto", read_timeout_seconds=60) as client:
        meta = {"io.baton/mode": "planning-analysis"}
        await refused(client, "baton__write_project_file", {"path": "notes/m.md", "content": "x"}, "may not use edit tools", meta=meta)
        await ok(client, "baton__read_project_file", {"path": "TODO.md"}, meta=meta)
        # Nor can Baton send it a sampling request: the mode's executor must be a tool.
        await refused(client, "baton__delegate_task", {"mode": "planning-analysis", "instructions": "x"}, "cannot answer a sampling request")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    summary: dict[str, Any] = {}
    failed: list[str] = []
    try:
        async with Client(args.url, mode="legacy", read_timeout_seconds=120, sampling_callback=sampling) as client:
            await annotations(client)
            await time_and_memory(client)
            await files(client)
            await system(client)
            summary.update(await modes(client))
        summary["race_entries"] = await concurrent_memory(args.url, 6, 15)
        await stateless_meta(args.url)
    except* CheckFailed as failures:
        # Checks inside the SDK's task groups arrive wrapped in an ExceptionGroup.
        failed.extend(str(failure) for failure in failures.exceptions)
    if failed:
        for failure in failed:
            print(f"CHECK FAILED: {failure}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
