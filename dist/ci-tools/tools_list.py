"""Starts an MCP server command the way a host does and asks it for tools/list.

Used by .ci/packages.sh on what the packages install (`npx -y aipass-mcp`, the wheel's
`aipass-mcp`, `uvx aipass-mcp`): the official MCP Python SDK is the client. The tool names must
equal the catalogue file's (the output of `aipass-mcp tools`). Prints the time from starting the
command to the tools/list answer, as `first tools/list answer after N.NN s`.

    python tools_list.py --catalogue tools.json [--env KEY=VALUE ...] [--cwd DIR] -- COMMAND ARGS...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

from mcp.client import Client
from mcp.client.stdio import StdioServerParameters


async def list_tool_names(command: list[str], env: dict[str, str], cwd: str | None = None,
                          timeout: float = 120.0) -> tuple[list[str], float]:
    """Starts `command` with exactly `env`, returns the sorted tool names and the seconds from
    the start to the tools/list answer."""
    params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=cwd)
    started = time.monotonic()
    async with Client(params, mode="legacy", read_timeout_seconds=timeout) as client:
        listed = await client.list_tools()
        elapsed = time.monotonic() - started
    return sorted(t.name for t in listed.tools), elapsed


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalogue", required=True, help="JSON file: the output of `aipass-mcp tools`")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE added to this process's environment")
    parser.add_argument("--cwd", default=None)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command after --")

    with open(args.catalogue) as f:
        expected = sorted(t["name"] for t in json.load(f)["tools"])
    env = dict(os.environ)
    env.update(pair.split("=", 1) for pair in args.env)

    names, elapsed = await list_tool_names(command, env, args.cwd, args.timeout)
    if names != expected:
        print(f"tools/list answered {names}, expected {expected}", file=sys.stderr)
        return 1
    print(f"{len(names)} tools; first tools/list answer after {elapsed:.2f} s: {' '.join(command)}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
