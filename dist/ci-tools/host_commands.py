"""Runs the host commands the docs print, with the hosts' own CLIs, and checks the result.

Every fenced shell line in the given Markdown files that starts with `claude mcp add` or
`codex mcp add` is taken as written (placeholders such as `<your client id>` filled in) and run
in a throwaway HOME:

- Claude Code: then `claude mcp list` must report the server `✔ Connected` (Claude Code starts
  it and completes the MCP handshake) and `claude mcp get <name>` must show it connected, with
  every `--env` setting the line gave.
- Codex: `codex mcp list` does not start servers, so the entry Codex wrote (`codex mcp list
  --json`) is started the way Codex starts it (its command, args and env, plus HOME and PATH) and
  must answer tools/list with the full catalogue.

Fenced JSON configs whose command is `npx`, `uvx` or `pipx` are started too, and must answer
tools/list (configs naming the binary itself are clients/examples/'s, checked by check_configs.py).

The registered servers are pointed at the fake AI Pass (AIPASS_BASE_URL in the CLI's
environment), and any other HTTP(S) request the CLIs make goes to a dead loopback proxy. A
command through `npx -y aipass-mcp` resolves against the local registry given; one through
`uvx aipass-mcp` against the local wheel folder. Prints one line per check and a summary; exits 1
when a check failed or a file has no such command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tools_list import list_tool_names

PLACEHOLDERS = {
    "<your client id>": "ci-client-id",
    "<your AI Pass client id>": "ci-client-id",
    "<id>": "ci-client-id",
}
HOSTS = ("claude", "codex")
# Options of `claude mcp add` / `codex mcp add` that take a value (the name is the first other word).
VALUE_OPTIONS = {"--scope", "-s", "--transport", "-t", "--header", "-H", "--env", "-e", "--url", "--bearer-token-env-var"}


def doc_commands(path: Path) -> list[str]:
    """Lines of fenced code blocks starting with `<host> mcp add`, continuation lines joined."""
    commands, in_fence, pending = [], False, ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            in_fence, pending = not in_fence, ""
            continue
        if not in_fence:
            continue
        line = pending + line.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if any(line.startswith(f"{host} mcp add ") for host in HOSTS):
            commands.append(line)
    return commands


def server_name(words: list[str]) -> str:
    """The server name in `<host> mcp add [options] <name> [options] -- <command>`."""
    rest = words[3:words.index("--")] if "--" in words else words[3:]
    skip = False
    for word in rest:
        if skip:
            skip = False
            continue
        if word in VALUE_OPTIONS:
            skip = True
            continue
        if word.startswith("-") or "=" in word:
            continue
        return word
    raise ValueError(f"no server name in {' '.join(words)}")


def env_settings(words: list[str]) -> dict[str, str]:
    """KEY=VALUE words before `--` (the values of --env / -e)."""
    rest = words[:words.index("--")] if "--" in words else words
    return dict(w.split("=", 1) for w in rest if re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", w))


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"  ok    [hosts] {name}", flush=True)
        else:
            self.failed += 1
            print(f"  FAIL  [hosts] {name}: {detail[-1500:]}", flush=True)
        return ok


def host_home(home: Path, work: Path, path_dirs: list[str], args: argparse.Namespace) -> dict[str, str]:
    """A throwaway HOME and the environment a host CLI runs in there."""
    home.mkdir(parents=True, exist_ok=True)
    # npx and uvx read the user's own config files, which reach the server even through
    # hosts that pass it only HOME and PATH (Codex): the local registry, the local wheel.
    npmrc = [f"cache={work / 'npm-cache'}", "update-notifier=false", "fund=false", "audit=false"]
    if args.npm_registry:
        npmrc.append(f"registry={args.npm_registry}")
    (home / ".npmrc").write_text("\n".join(npmrc) + "\n")
    uv_config = home / ".config" / "uv"
    uv_config.mkdir(parents=True, exist_ok=True)
    uv_toml = [f"cache-dir = {json.dumps(str(work / 'uv-cache'))}", "offline = true", 'python-downloads = "never"']
    if args.wheel_dir:
        uv_toml += [f"find-links = [{json.dumps(args.wheel_dir)}]", "no-index = true"]
    (uv_config / "uv.toml").write_text("\n".join(uv_toml) + "\n")
    return {
        "HOME": str(home),
        "PATH": os.pathsep.join(path_dirs),
        "AIPASS_BASE_URL": args.base_url,
        "AIPASS_BROWSER": "none",
        "AIPASS_LOG": "warn",
        # Nothing but loopback: the CLIs' own traffic goes to a dead local proxy.
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost,::1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "MCP_TIMEOUT": "90000",
    }


def doc_package_configs(path: Path) -> list[dict]:
    """Server entries of fenced JSON configs whose command is a package runner (npx, uvx, pipx):
    the ones only the packages make work (configs naming the binary are clients/examples/'s)."""
    entries, block, in_json = [], [], False
    for line in path.read_text().splitlines():
        fence = line.lstrip().startswith("```")
        if fence and not in_json and line.strip() == "```json":
            in_json, block = True, []
        elif fence and in_json:
            in_json = False
            config = json.loads("\n".join(block))
            for server in {**config.get("mcpServers", {}), **config.get("servers", {})}.values():
                if server.get("command") in ("npx", "uvx", "pipx"):
                    entries.append(server)
        elif in_json:
            block.append(line)
    return entries


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--doc", action="append", required=True, help="Markdown file[:min commands]")
    parser.add_argument("--bin-dir", required=True, help="folder holding aipass-mcp (as after an install)")
    parser.add_argument("--host-bin", required=True, help="folder holding the claude and codex CLIs")
    parser.add_argument("--work", required=True)
    parser.add_argument("--base-url", required=True, help="the fake AI Pass")
    parser.add_argument("--token", required=True, help="a token of the fake, for <your token>")
    parser.add_argument("--catalogue", required=True)
    parser.add_argument("--npm-registry", help="local registry for `npx -y aipass-mcp`")
    parser.add_argument("--wheel-dir", help="folder with the wheel, for `uvx aipass-mcp`")
    parser.add_argument("--uv-bin", help="folder holding uvx")
    args = parser.parse_args()

    checks = Checks()
    work = Path(args.work).resolve()
    expected = sorted(t["name"] for t in json.loads(Path(args.catalogue).read_text())["tools"])
    placeholders = dict(PLACEHOLDERS, **{"<your token>": args.token})

    path_dirs = [str(Path(d).resolve()) for d in (args.bin_dir, args.host_bin, args.uv_bin) if d]
    path_dirs.append(os.environ.get("PATH", "/usr/bin:/bin"))
    commands = []
    for spec in args.doc:
        file, _, minimum = spec.partition(":")
        found = doc_commands(Path(file))
        need = int(minimum or 1)
        checks.check(f"{file}: {len(found)} host command(s) found (at least {need})", len(found) >= need, "\n".join(found))
        commands += [(file, c) for c in found]

    for n, (file, written) in enumerate(commands, 1):
        line = written
        for placeholder, value in placeholders.items():
            line = line.replace(placeholder, value)
        label = f"{file}: {written}"
        if not checks.check(f"{label}: every placeholder known", "<" not in line, line):
            continue
        words = shlex.split(line, comments=True)
        host, name = words[0], server_name(words)
        home = work / f"home-{n}"
        env = host_home(home, work, path_dirs, args)

        def run(*cmd: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
            return subprocess.run(list(cmd), env=env, cwd=home, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

        try:
            added = run(*words)
        except (OSError, subprocess.TimeoutExpired) as e:
            checks.check(f"{label}: runs", False, f"{type(e).__name__}: {e}")
            continue
        if not checks.check(f"{label}: exits 0", added.returncode == 0, added.stdout + added.stderr):
            continue
        settings = env_settings(words)
        if host == "claude":
            listed = run("claude", "mcp", "list")
            connected = re.search(rf"^{re.escape(name)}: .*✔ Connected\s*$", listed.stdout, re.M)
            checks.check(f"{label}: `claude mcp list` shows {name} connected", listed.returncode == 0 and bool(connected), listed.stdout + listed.stderr)
            got = run("claude", "mcp", "get", name)
            ok = got.returncode == 0 and "Status: ✔ Connected" in got.stdout
            ok = ok and all(f"{key}=" in got.stdout for key in settings)
            checks.check(f"{label}: `claude mcp get {name}` connected, env {sorted(settings)}", ok, got.stdout + got.stderr)
        else:
            listed = run("codex", "mcp", "list", "--json")
            try:
                entry = next(e for e in json.loads(listed.stdout) if e["name"] == name)
                transport = entry["transport"]
            except (ValueError, StopIteration, KeyError) as e:
                checks.check(f"{label}: `codex mcp list --json` has {name}", False, f"{e}: {listed.stdout}{listed.stderr}")
                continue
            ok = entry["enabled"] and transport["type"] == "stdio" and (transport["env"] or {}) == settings
            checks.check(f"{label}: `codex mcp list --json` has {name}, stdio, env {sorted(settings)}", ok, json.dumps(entry))
            server_env = {k: env[k] for k in ("HOME", "PATH", "AIPASS_BASE_URL", "AIPASS_BROWSER", "AIPASS_LOG") if k in env}
            server_env.update(transport["env"] or {})
            try:
                names, elapsed = asyncio.run(list_tool_names([transport["command"], *transport["args"]], server_env, cwd=str(home)))
                checks.check(f"{label}: the entry Codex wrote starts and answers tools/list ({elapsed:.2f} s)", names == expected, str(names))
            except Exception as e:  # noqa: BLE001 - a failed start is a failed check
                checks.check(f"{label}: the entry Codex wrote starts and answers tools/list", False, f"{type(e).__name__}: {e}")

    # JSON configs in the docs that run the server through npx / uvx / pipx, started as a host does.
    for spec in args.doc:
        file = spec.partition(":")[0]
        for n, server in enumerate(doc_package_configs(Path(file)), 1):
            command = [server["command"], *server.get("args", [])]
            label = f"{file}: JSON config {json.dumps(command)}"
            env = host_home(work / f"config-{Path(file).stem}-{n}", work, path_dirs, args)
            env.update(server.get("env", {}))
            try:
                names, elapsed = asyncio.run(list_tool_names(command, env, cwd=env["HOME"]))
                checks.check(f"{label}: starts and answers tools/list ({elapsed:.2f} s)", names == expected, str(names))
            except Exception as e:  # noqa: BLE001 - a failed start is a failed check
                checks.check(f"{label}: starts and answers tools/list", False, f"{type(e).__name__}: {e}")

    print(f"host commands: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
