#!/usr/bin/env python3
"""Measure what `baton serve --http` holds at rest and per idle session (issue 19).

Starts `baton serve --http 127.0.0.1:0` in an empty temporary directory (no baton.yaml: no
servers, built-in tools only, the store in that directory) and prints, as one JSON object:

- start_to_first_list_ms: from spawning the process to the answer of the first `tools/list`
  (the client connects as soon as Baton prints its listening line, then `initialize`,
  `notifications/initialized`, `tools/list` on one keep-alive connection);
- idle_rss_kb: VmRSS once that session is done and the process has been idle --settle seconds;
- then --sessions sessions opened with `initialize` + `notifications/initialized` and left
  alone: VmRSS right after, and again after --wait seconds (by then idle sessions may be
  parked), each as a total and per session.

    scripts/session-memory.py --baton target/release/baton --sessions 2000 --wait 70

Loopback only; nothing but the Python standard library.
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

ACCEPT = "application/json, text/event-stream"


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def post(conn, body, session=None):
    headers = {"Content-Type": "application/json", "Accept": ACCEPT}
    if session:
        headers["Mcp-Session-Id"] = session
        headers["MCP-Protocol-Version"] = "2025-11-25"
    conn.request("POST", "/mcp", json.dumps(body), headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, response.getheader("mcp-session-id"), data


def open_session(conn):
    status, session, data = post(conn, {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "session-memory", "version": "1"}},
    })
    if status != 200 or not session:
        raise RuntimeError(f"initialize: {status} {data[:300]!r}")
    status, _, data = post(conn, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    if status not in (200, 202):
        raise RuntimeError(f"initialized: {status} {data[:300]!r}")
    return session


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baton", required=True)
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--dir", help="run in this directory (its store kept between runs); "
                        "default: a new temporary directory, so the store is created")
    parser.add_argument("--wait", type=float, default=0.0,
                        help="seconds to wait after opening the sessions before measuring again")
    args = parser.parse_args()

    work = args.dir or tempfile.mkdtemp(prefix="baton-session-memory-")
    os.makedirs(work, exist_ok=True)
    # No servers; caps high enough for the measurement, sessions kept for 10 minutes.
    with open(os.path.join(work, "baton.yaml"), "w") as config:
        config.write("serve:\n  sessions:\n    max: 1000000\n    idle_timeout: 10m\n")
    started = time.perf_counter()
    baton = subprocess.Popen(
        [os.path.abspath(args.baton), "serve", "--http", "127.0.0.1:0"],
        cwd=work, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    try:
        port = None
        for line in baton.stderr:
            if "listening on http://" in line:
                port = int(line.split("listening on http://")[1].split("/")[0].rsplit(":", 1)[1])
                break
        if port is None:
            raise RuntimeError("baton ended before listening")
        # Keep draining stderr so Baton never blocks on a full pipe.
        import threading
        threading.Thread(target=lambda: [None for _ in baton.stderr], daemon=True).start()
        conn = http.client.HTTPConnection("127.0.0.1", port)
        session = open_session(conn)
        status, _, data = post(conn, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session)
        first_list = (time.perf_counter() - started) * 1000
        if status != 200 or b"tools" not in data:
            raise RuntimeError(f"tools/list: {status} {data[:300]!r}")
        time.sleep(args.settle)
        idle = rss_kb(baton.pid)
        idle_parts = {field: rss_kb(baton.pid, field) for field in ("RssAnon", "RssFile", "Threads")}
        opened_at = time.perf_counter()
        for _ in range(args.sessions):
            open_session(conn)
        opening_s = time.perf_counter() - opened_at
        time.sleep(args.settle)
        after = rss_kb(baton.pid)
        result = {
            "start_to_first_list_ms": round(first_list, 1),
            "idle_rss_kb": idle,
            "idle_rss_anon_kb": idle_parts["RssAnon"],
            "idle_rss_file_kb": idle_parts["RssFile"],
            "threads": idle_parts["Threads"],
            "sessions": args.sessions,
            "opening_s": round(opening_s, 2),
            "rss_after_open_kb": after,
            "per_session_after_open_bytes": round((after - idle) * 1024 / max(args.sessions, 1)),
        }
        if args.wait > 0:
            time.sleep(args.wait)
            later = rss_kb(baton.pid)
            result["wait_s"] = args.wait
            result["rss_after_wait_kb"] = later
            result["per_session_after_wait_bytes"] = round(
                (later - idle) * 1024 / max(args.sessions, 1))
        print(json.dumps(result))
    finally:
        baton.terminate()
        baton.wait(10)


if __name__ == "__main__":
    sys.exit(main())
