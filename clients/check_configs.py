"""Checks the client configurations the docs give, as far as this machine allows.

For each example under clients/examples/ (and for the packed Claude Desktop bundle, resolved by
the official MCPB library through bundle_config.mjs) it parses the file the way that client
does, expands the variables that client expands, swaps the placeholder binary path for the
built binary (a bare `aipass-mcp` is found on PATH, as after `cargo install`), starts the command
with the resulting environment and working directory, and checks that it answers tools/list
(the official Python SDK is the client). Where a config carries a usable token it also calls a
tool. Prints one line per check and a summary; exits 1 when any check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

PLACEHOLDER_HOMES = ("/home/you", "/Users/you")


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, condition: bool, detail: Any = "") -> bool:
        if condition:
            self.passed += 1
            print(f"  ok    [configs] {name}", flush=True)
        else:
            self.failed += 1
            text = detail if isinstance(detail, str) else json.dumps(detail, default=str)[:800]
            print(f"  FAIL  [configs] {name}: {text}", flush=True)
        return condition


def texts(result: dict[str, Any]) -> str:
    return "\n".join(b.get("text", "") for b in result.get("content", []) if b.get("type") == "text")


def expand_claude_code(value: str, env: dict[str, str]) -> str:
    """Claude Code expands ${VAR} and ${VAR:-default} in .mcp.json (an unset ${VAR} is an error)."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(3)
        if name in env:
            return env[name]
        if default is None:
            raise KeyError(f"{name} is not set and has no default")
        return default

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", sub, value)


def expand_vscode(value: str, inputs: dict[str, str]) -> str:
    """VS Code asks for each ${input:id} once and substitutes the answer."""
    return re.sub(r"\$\{input:([^}]+)\}", lambda m: inputs[m.group(1)], value)


class Runner:
    def __init__(self, args: argparse.Namespace, checks: Checks) -> None:
        self.args = args
        self.checks = checks
        self.work = Path(args.work)
        self.home = self.work / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.bin_dir = str(Path(args.server).resolve().parent)

    def host_env(self, **extra: str) -> dict[str, str]:
        """The environment a host would start the server with: a fresh home, the binary on PATH."""
        env = {
            "HOME": str(self.home),
            "PATH": self.bin_dir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
            "AIPASS_CONFIG_DIR": str(self.home / ".config" / "aipass-mcp"),
            "AIPASS_BROWSER": "none",
            "AIPASS_LOG": "warn",
        }
        env.update(extra)
        return env

    def localize(self, value: str) -> str:
        """Placeholder paths in the examples (/home/you/...) → this run's scratch home."""
        for placeholder in PLACEHOLDER_HOMES:
            if value.startswith(placeholder + "/"):
                return str(self.home) + value[len(placeholder):]
        return value

    def resolve_command(self, command: str, env: dict[str, str]) -> str | None:
        if os.path.isabs(command):
            # The docs' absolute path is where `cargo install` puts the binary; use the built one.
            return str(Path(self.args.server).resolve()) if command.endswith(("/aipass-mcp", "\\aipass-mcp.exe")) else command
        return shutil.which(command, path=env["PATH"])

    async def run(self, label: str, command: str, args: list[str], env: dict[str, str], cwd: str,
                  call: tuple[str, dict[str, Any], str] | None = None) -> None:
        """Starts the command like a host, lists tools, and optionally calls one tool.

        `call` is (tool, arguments, expectation) where expectation is a substring the text must
        contain, or `error:<code>` for an error result starting with that code."""
        resolved = self.resolve_command(command, env)
        if not self.checks.check(f"{label}: command resolves to an executable", resolved is not None and os.access(resolved, os.X_OK), command):
            return
        params = StdioServerParameters(command=resolved, args=args, env=env, cwd=cwd)
        try:
            async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
                listed = (await client.list_tools()).model_dump(by_alias=True, mode="json")
                names = sorted(t["name"] for t in listed["tools"])
                self.checks.check(f"{label}: starts and answers tools/list", names == self.args.catalogue, names)
                if call:
                    tool, arguments, expect = call
                    result = (await client.call_tool(tool, arguments, read_timeout_seconds=60)).model_dump(by_alias=True, mode="json", exclude_none=True)
                    text = texts(result)
                    if expect.startswith("error:"):
                        ok = bool(result.get("isError")) and text.startswith(expect[len("error:"):])
                    else:
                        ok = not result.get("isError") and expect in json.dumps(result)
                    self.checks.check(f"{label}: {tool} {json.dumps(arguments)} -> {expect}", ok, text or result)
        except BaseException as e:  # noqa: BLE001 - a crash is a failed check
            self.checks.check(f"{label}: session ran", False, f"{type(e).__name__}: {e}")

    # --- the examples -------------------------------------------------------------------------

    async def claude_code_project(self, path: Path) -> None:
        label = "Claude Code .mcp.json"
        config = json.loads(path.read_text())
        server = config["mcpServers"]["aipass"]
        self.checks.check(f"{label}: parses, stdio server 'aipass'", server.get("type", "stdio") == "stdio", server)
        # The developer exported a token (and points the base URL at the fake for this test).
        shell = self.host_env(AIPASS_ACCESS_TOKEN=self.args.token)
        env = dict(shell)
        env.update({k: expand_claude_code(v, shell) for k, v in server.get("env", {}).items()})
        env["AIPASS_BASE_URL"] = self.args.base_url
        project = self.work / "project"
        project.mkdir(exist_ok=True)
        await self.run(label, expand_claude_code(server["command"], shell), [expand_claude_code(a, shell) for a in server.get("args", [])],
                       env, str(project), ("chat", {"prompt": "hello from .mcp.json"}, "Echo from"))
        # Without any AIPASS_* exported, every ${VAR:-} falls back to empty: the server must still start.
        bare = self.host_env()
        env = dict(bare)
        env.update({k: expand_claude_code(v, bare) for k, v in server.get("env", {}).items()})
        await self.run(f"{label} (nothing exported)", server["command"], server.get("args", []), env, str(project))

    async def mcp_servers_file(self, label: str, path: Path, cwd: str) -> None:
        config = json.loads(path.read_text())
        server = config["mcpServers"]["aipass"]
        self.checks.check(f"{label}: parses, names an absolute binary path", os.path.isabs(server["command"]), server["command"])
        env = self.host_env()
        env.update({k: self.localize(v) for k, v in server.get("env", {}).items()})
        out = env.get("AIPASS_OUTPUT_DIR")
        self.checks.check(f"{label}: AIPASS_OUTPUT_DIR is absolute", out is None or os.path.isabs(out), out)
        await self.run(label, server["command"], server.get("args", []), env, cwd)

    async def vscode(self, path: Path) -> None:
        label = "VS Code .vscode/mcp.json"
        config = json.loads(path.read_text())
        server = config["servers"]["aipass"]
        inputs = {i["id"]: "example-client-id" for i in config.get("inputs", [])}
        env = self.host_env()
        env.update({k: expand_vscode(v, inputs) for k, v in server.get("env", {}).items()})
        self.checks.check(f"{label}: parses, every ${{input:…}} is declared", "${input:" not in json.dumps(env), env)
        await self.run(label, server["command"], server.get("args", []), env, str(self.work))

    async def codex(self, path: Path) -> None:
        label = "Codex config.toml"
        config = tomllib.loads(path.read_text())
        server = config["mcp_servers"]["aipass"]
        self.checks.check(f"{label}: parses, names an absolute binary path", os.path.isabs(server["command"]), server)
        env = self.host_env()
        env.update({k: self.localize(v) for k, v in server.get("env", {}).items()})
        await self.run(label, server["command"], server.get("args", []), env, str(self.work))

    # --- the Claude Desktop bundle ------------------------------------------------------------

    def resolve_bundle(self, user_config: dict[str, Any]) -> Any:
        out = subprocess.run(
            [self.args.node, str(Path(__file__).with_name("bundle_config.mjs")), self.args.bundle_dir, json.dumps(user_config)],
            capture_output=True, text=True, env={**os.environ, "MCPB_PACKAGE": self.args.mcpb_package, "HOME": str(self.home)},
        )
        if out.returncode != 0:
            raise RuntimeError(f"bundle_config.mjs failed: {out.stderr.strip()[-600:]}")
        return json.loads(out.stdout)

    async def bundle(self) -> None:
        label = "Claude Desktop bundle"
        if not self.checks.check(f"{label}: unpacked bundle present", (Path(self.args.bundle_dir) / "manifest.json").is_file(), self.args.bundle_dir):
            return
        try:
            await self.bundle_cases(label)
        except Exception as e:  # noqa: BLE001 - a crash is a failed check
            self.checks.check(f"{label}: resolved by the MCPB library", False, f"{type(e).__name__}: {e}")

    async def bundle_cases(self, label: str) -> None:
        config = self.resolve_bundle({})
        self.checks.check(f"{label}: with nothing set, the host asks for the output folder first", config is None, config)

        out_dir = self.home / "Documents" / "AI Pass"
        out_dir.mkdir(parents=True, exist_ok=True)
        config = self.resolve_bundle({"output_dir": str(out_dir), "base_url": self.args.base_url})
        self.checks.check(f"{label}: every ${{…}} placeholder is filled when only the folder is chosen", config is not None and "${" not in json.dumps(config), config)
        self.checks.check(f"{label}: command is inside the unpacked bundle", config is not None and config["command"].startswith(self.args.bundle_dir), config)
        if config:
            # Claude Desktop starts servers with cwd `/` and passes only the env it resolved.
            # No client id: the first call asks for the setup approval; nobody approves here,
            # so a short login timeout ends it with auth_required (and the approval link).
            env = self.host_env(AIPASS_LOGIN_TIMEOUT="3")
            env.update(config.get("env", {}))
            await self.run(f"{label} (folder only: no token, no client id)", config["command"], config.get("args", []), env, "/",
                           ("balance", {}, "error:auth_required"))

        config = self.resolve_bundle({"output_dir": str(out_dir), "base_url": self.args.base_url, "access_token": self.args.token})
        if self.checks.check(f"{label}: resolves with a token", config is not None and "${" not in json.dumps(config), config):
            env = self.host_env()
            env.update(config.get("env", {}))
            await self.run(f"{label} (token)", config["command"], config.get("args", []), env, "/",
                           ("generate_image", {"prompt": "bundle check"}, str(out_dir)))
            await self.run(f"{label} (token, relative output_dir under cwd /)", config["command"], config.get("args", []), env, "/",
                           ("generate_image", {"prompt": "x", "output_dir": "relative/out"}, "error:invalid_input"))


async def amain(args: argparse.Namespace) -> Checks:
    checks = Checks()
    runner = Runner(args, checks)
    examples = Path(args.examples)
    await runner.claude_code_project(examples / ".mcp.json")
    await runner.mcp_servers_file("Cursor ~/.cursor/mcp.json", examples / "cursor-mcp.json", str(runner.work))
    await runner.mcp_servers_file("Claude Desktop config (no bundle, cwd /)", examples / "claude_desktop_config.json", "/")
    await runner.vscode(examples / "vscode-mcp.json")
    await runner.codex(examples / "codex-config.toml")
    if args.bundle_dir:
        await runner.bundle()
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the built aipass-mcp binary")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--examples", default=str(Path(__file__).with_name("examples")))
    parser.add_argument("--bundle-dir", help="an unpacked .mcpb (mcpb unpack)")
    parser.add_argument("--node", default="node")
    parser.add_argument("--mcpb-package", help="node_modules/@anthropic-ai/mcpb")
    args = parser.parse_args()
    if args.bundle_dir:
        args.bundle_dir = str(Path(args.bundle_dir).resolve())
    catalogue = json.loads(subprocess.run([args.server, "tools"], check=True, capture_output=True, text=True).stdout)
    args.catalogue = sorted(tool["name"] for tool in catalogue["tools"])
    checks = asyncio.run(amain(args))
    print(f"client configs: {checks.passed} passed, {checks.failed} failed", flush=True)
    return 1 if checks.failed or not checks.passed else 0


if __name__ == "__main__":
    sys.exit(main())
