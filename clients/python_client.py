"""A foreign client: the official MCP Python SDK drives the real aipass-mcp binary over stdio.

Run by .ci/foreign-clients.sh against the fake AI Pass; usable by hand too:

    target/py-venv/bin/python clients/python_client.py --server target/release/aipass-mcp \
        --base-url http://127.0.0.1:PORT --token TOKEN --work /tmp/x --era legacy --era auto

For each era it connects (legacy = the 2025-11-25 `initialize` handshake; auto = the SDK's
`server/discover` probe, which must land on 2026-07-28), checks the tool list, calls every tool
and checks what comes back: structuredContent keys and values against each tool's outputSchema,
files on disk, resource links, and the error shape. Prints one line per check and a summary;
exits 1 when any check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import struct
import subprocess
import sys
import traceback
import zlib
from pathlib import Path
from typing import Any

import jsonschema
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

EXPECTED_PROTOCOL = {"legacy": "2025-11-25", "auto": "2026-07-28"}
CALL_TIMEOUT = 60.0


class Checks:
    """Counts checks and prints one line each."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.passed = 0
        self.failed = 0

    def check(self, name: str, condition: bool, detail: Any = "") -> bool:
        if condition:
            self.passed += 1
            print(f"  ok    [{self.label}] {name}", flush=True)
        else:
            self.failed += 1
            text = detail if isinstance(detail, str) else json.dumps(detail, default=str)[:600]
            print(f"  FAIL  [{self.label}] {name}: {text}", flush=True)
        return condition


def png_bytes(width: int, height: int, seed: int) -> bytes:
    """A small RGB PNG, written with the standard library only."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    rows = b"".join(
        b"\x00" + bytes(((x * 3 + seed * 70) % 256, (y * 5) % 256, ((x ^ y) + seed) % 256)[c] for x in range(width) for c in range(3))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def wire(model: Any) -> dict[str, Any]:
    """The result as it travelled on the wire (camelCase keys)."""
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def texts(result: dict[str, Any]) -> str:
    return "\n".join(block.get("text", "") for block in result.get("content", []) if block.get("type") == "text")


class Session:
    def __init__(self, client: Client, checks: Checks, schemas: dict[str, dict[str, Any]], output_dir: Path) -> None:
        self.client = client
        self.checks = checks
        self.schemas = schemas
        self.output_dir = output_dir
        self.called: set[str] = set()

    async def call(self, name: str, arguments: dict[str, Any], *, expect_error: bool = False) -> dict[str, Any]:
        result = wire(await self.client.call_tool(name, arguments, read_timeout_seconds=CALL_TIMEOUT))
        is_error = bool(result.get("isError"))
        label = f"{name} {json.dumps(arguments)[:80]}"
        if expect_error:
            self.checks.check(f"{label} -> isError", is_error, result)
            return result
        if not self.checks.check(f"{label} -> success", not is_error, texts(result) or result):
            return result
        self.called.add(name)
        structured = result.get("structuredContent")
        if self.checks.check(f"{name}: structuredContent is an object", isinstance(structured, dict), result):
            schema = self.schemas.get(name)
            try:
                jsonschema.validate(structured, schema)
                self.checks.check(f"{name}: structuredContent matches outputSchema", True)
            except jsonschema.ValidationError as e:
                self.checks.check(f"{name}: structuredContent matches outputSchema", False, e.message)
        self.checks.check(f"{name}: has a short text block", bool(texts(result).strip()), result.get("content"))
        return result

    def check_files(self, name: str, result: dict[str, Any], mime_prefix: str, count: int | None = None) -> list[Path]:
        files = (result.get("structuredContent") or {}).get("files") or []
        self.checks.check(f"{name}: files listed", len(files) >= 1 and (count is None or len(files) == count), files)
        links = {b.get("uri") for b in result.get("content", []) if b.get("type") == "resource_link"}
        paths = []
        for entry in files:
            path = Path(entry.get("path", ""))
            paths.append(path)
            ok = (
                path.is_absolute()
                and path.is_file()
                and path.stat().st_size == entry.get("bytes")
                and str(entry.get("mime_type", "")).startswith(mime_prefix)
            )
            self.checks.check(f"{name}: {path.name} exists, absolute, size and type as listed", ok, entry)
            self.checks.check(f"{name}: {path.name} is in the output folder", self.output_dir in path.parents, str(path))
            self.checks.check(f"{name}: {path.name} also sent as a resource_link", path.as_uri() in links, sorted(map(str, links)))
        return paths


async def run_era(args: argparse.Namespace, era: str) -> Checks:
    checks = Checks(f"python {era}")
    work = Path(args.work) / era
    output_dir = work / "output"
    work.mkdir(parents=True, exist_ok=True)
    env = {
        "AIPASS_BASE_URL": args.base_url,
        "AIPASS_ACCESS_TOKEN": args.token,
        "AIPASS_OUTPUT_DIR": str(output_dir),
        "AIPASS_LOG": "warn",
    }
    params = StdioServerParameters(command=args.server, args=["serve"], env=env, cwd=str(work))
    async with Client(params, mode=era, read_timeout_seconds=CALL_TIMEOUT) as client:
        await exercise(client, checks, era, args, work, output_dir)
    return checks


async def exercise(client: Client, checks: Checks, era: str, args: argparse.Namespace, work: Path, output_dir: Path) -> None:
    checks.check("negotiated protocol version", client.protocol_version == EXPECTED_PROTOCOL[era], client.protocol_version)
    info = client.server_info
    if era == "legacy" or info is not None:
        checks.check(
            "server info names aipass-mcp and its version",
            info is not None and info.name == "aipass-mcp" and info.version == args.expect_version,
            wire(info) if info is not None else None,
        )

    listed = wire(await client.list_tools())
    tools = {tool["name"]: tool for tool in listed.get("tools", [])}
    checks.check("tools/list names = the binary's catalogue (aipass-mcp tools)", sorted(tools) == args.catalogue, sorted(tools))
    schemas: dict[str, dict[str, Any]] = {}
    for name, tool in sorted(tools.items()):
        input_schema = tool.get("inputSchema", {})
        output_schema = tool.get("outputSchema")
        checks.check(f"{name}: inputSchema is a plain object schema", input_schema.get("type") == "object" and not ({"anyOf", "oneOf", "allOf"} & input_schema.keys()), input_schema)
        checks.check(f"{name}: no nullable type unions (Cursor rejects them)", '"null"' not in json.dumps(input_schema), input_schema)
        checks.check(f"{name}: description under 2 KB (Claude Code cuts there)", 0 < len(tool.get("description", "").encode()) <= 2048, len(tool.get("description", "")))
        if checks.check(f"{name}: declares an outputSchema", isinstance(output_schema, dict), tool):
            schemas[name] = output_schema
        ann = tool.get("annotations", {})
        description = tool.get("description", "")
        free = "Free." in description
        if ann.get("readOnlyHint") is True:
            checks.check(f"{name}: read-only tool says it is free", free, description)
        if not free:
            ok = ann.get("readOnlyHint") is False and ann.get("destructiveHint") is False and ann.get("openWorldHint") is True
            checks.check(f"{name}: paid annotations (readOnly false, destructive false, openWorld true)", ok, ann)
            checks.check(f"{name}: paid tool says it spends budget", "budget" in description.lower(), description)

    session = Session(client, checks, schemas, output_dir)
    photo = work / "photo.png"
    photo.write_bytes(png_bytes(64, 48, 0))
    reference_uri = "data:image/png;base64," + base64.b64encode(png_bytes(32, 32, 1)).decode()

    # list_models
    result = await session.call("list_models", {})
    models = (result.get("structuredContent") or {}).get("models", [])
    ids = {m.get("id") for m in models}
    checks.check("list_models: the fake's models, each with a capability", {"gpt-5-mini", "tts-1", "whisper-1", "text-embedding-3-small"} <= ids and all(m.get("capability") for m in models), sorted(map(str, ids)))
    result = await session.call("list_models", {"capability": "image_edit"})
    edit_models = (result.get("structuredContent") or {}).get("models", [])
    # The live catalogue's metadata says what a model does; ids like `aura-sr` say nothing.
    checks.check("list_models capability=image_edit: only image-edit models", bool(edit_models) and all(m["capability"] == "image_edit" and "image_edit" in m.get("methods", ["image_edit"]) for m in edit_models), edit_models)
    if "id" in tools["list_models"].get("inputSchema", {}).get("properties", {}):
        result = await session.call("list_models", {"id": "gpt-5-mini"})
        s = result.get("structuredContent") or {}
        checks.check("list_models id=gpt-5-mini: that model's details", isinstance(s.get("details"), dict) and s["details"].get("id") == "gpt-5-mini", s)

    # chat: prompt, then messages + system, then vision
    result = await session.call("chat", {"prompt": "Hello from Python"})
    s = result.get("structuredContent") or {}
    checks.check("chat: echo reply names the model used", s.get("text") == f"Echo from {s.get('model')}: Hello from Python" and s.get("model") == "gpt-5-mini", s)
    result = await session.call("chat", {"messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "second"}], "system": "Be brief.", "max_tokens": "50", "temperature": "0.2"})
    s = result.get("structuredContent") or {}
    checks.check("chat messages (numbers sent as strings): replies to the last user turn", str(s.get("text", "")).endswith(": second"), s)
    result = await session.call("chat", {"prompt": "What is in this picture?", "images": [str(photo)]})
    checks.check("chat with an image (vision): replies", "What is in this picture?" in str((result.get("structuredContent") or {}).get("text")), result.get("structuredContent"))

    # images
    result = await session.call("generate_image", {"prompt": "A lighthouse at dawn", "size": "512x512", "n": 2})
    session.check_files("generate_image", result, "image/", count=2)
    result = await session.call("edit_image", {"prompt": "Blend the two", "images": [str(photo), reference_uri]})
    session.check_files("edit_image", result, "image/")
    checks.check("edit_image: default model is an image-edit model", (result.get("structuredContent") or {}).get("model") in {m["id"] for m in edit_models}, result.get("structuredContent"))

    if "vary_image" in tools:
        result = await session.call("vary_image", {"image": str(photo), "n": 2})
        session.check_files("vary_image", result, "image/", count=2)

    # speech round trip
    spoken_text = f"The quick brown fox, {era} era"
    result = await session.call("speak", {"text": spoken_text, "voice": "nova", "format": "mp3"})
    audio = session.check_files("speak", result, "audio/", count=1)
    if audio:
        result = await session.call("transcribe", {"file": str(audio[0])})
        s = result.get("structuredContent") or {}
        checks.check("transcribe: round-trips the spoken text", str(s.get("text", "")).strip() == spoken_text, s)

    # embeddings
    result = await session.call("embed", {"input": ["first text", "second text"]})
    s = result.get("structuredContent") or {}
    checks.check("embed: count 2, dimensions > 0", s.get("count") == 2 and int(s.get("dimensions") or 0) > 0, s)
    paths = session.check_files("embed", result, "application/json", count=1)
    if paths:
        try:
            data = json.loads(paths[0].read_text())
            checks.check("embed: the file is JSON", True)
        except (OSError, ValueError) as e:
            checks.check("embed: the file is JSON", False, str(e))

    # video jobs (when the server has them): wait inline, or come back with get_video
    if "generate_video" in tools:
        result = await session.call("generate_video", {"prompt": "Waves on a beach", "seconds": "4", "wait_seconds": 30})
        s = result.get("structuredContent") or {}
        checks.check("generate_video: completed within the wait", s.get("status") == "completed", s)
        session.check_files("generate_video", result, "video/", count=1)
        video_id = s.get("video_id")
        if "get_video" in tools and video_id:
            result = await session.call("get_video", {"video_id": video_id})
            s = result.get("structuredContent") or {}
            checks.check("get_video: the finished job", s.get("status") == "completed" and s.get("video_id") == video_id, s)
        if "remix_video" in tools and video_id:
            result = await session.call("remix_video", {"video_id": video_id, "prompt": "At night", "wait_seconds": 30})
            s = result.get("structuredContent") or {}
            checks.check("remix_video: a new completed job", s.get("status") == "completed" and s.get("video_id") != video_id, s)
            session.check_files("remix_video", result, "video/", count=1)
        result = await session.call("generate_video", {"prompt": "A slow sunrise", "wait_seconds": 0})
        s = result.get("structuredContent") or {}
        checks.check("generate_video wait_seconds=0: pending job, no file yet", s.get("status") == "pending" and s.get("video_id") and not s.get("files"), s)
        if "get_video" in tools and s.get("video_id"):
            result = await session.call("get_video", {"video_id": s["video_id"], "wait_seconds": 30})
            checks.check("get_video wait_seconds=30: completes the pending job", (result.get("structuredContent") or {}).get("status") == "completed", result.get("structuredContent"))
            session.check_files("get_video", result, "video/", count=1)

    # balance, after the paid calls above
    result = await session.call("balance", {"refresh": True})
    s = result.get("structuredContent") or {}
    ok = s.get("total_cost", 0) > 0 and abs(s.get("max_budget", 0) - s.get("total_cost", 0) - s.get("remaining_budget", -1)) < 1e-6
    checks.check("balance: spent > 0 and remaining = max - spent", ok, s)

    if "whoami" in tools:
        result = await session.call("whoami", {})
        s = result.get("structuredContent") or {}
        checks.check("whoami: the signed-in user's id", bool(s.get("sub")), s)

    # errors the agent can act on, and a JSON-RPC error for an unknown tool
    result = await session.call("chat", {"prompt": "hi", "model": "no-such-model"}, expect_error=True)
    checks.check("unknown model: text starts with model_not_found", texts(result).startswith("model_not_found"), texts(result))
    result = await session.call("generate_image", {"prompt": "x", "size": "not-a-size"}, expect_error=True)
    checks.check("bad size: text starts with invalid_input", texts(result).startswith("invalid_input"), texts(result))
    try:
        await client.call_tool("no_such_tool", {}, read_timeout_seconds=CALL_TIMEOUT)
        checks.check("unknown tool: JSON-RPC error", False, "no error raised")
    except MCPError as e:
        checks.check("unknown tool: JSON-RPC error", True, str(e))

    # still alive after all of that
    again = wire(await client.list_tools(cache_mode="refresh") if era == "auto" else await client.list_tools())
    checks.check("server still answers tools/list", len(again.get("tools", [])) == len(args.catalogue), again)
    missing = sorted(set(args.catalogue) - session.called)
    checks.check("every tool in the catalogue was called successfully", not missing, f"never called: {missing}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="path to the aipass-mcp binary")
    parser.add_argument("--base-url", required=True, help="AI Pass (fake) origin")
    parser.add_argument("--token", required=True, help="access token for it")
    parser.add_argument("--work", required=True, help="scratch folder (inputs, outputs, logs)")
    parser.add_argument("--expect-version", required=True, help="version the server must report")
    parser.add_argument("--era", action="append", choices=sorted(EXPECTED_PROTOCOL), help="legacy and/or auto (default both)")
    args = parser.parse_args()
    args.server = os.path.abspath(args.server)
    catalogue = json.loads(subprocess.run([args.server, "tools"], check=True, capture_output=True, text=True).stdout)
    args.catalogue = sorted(tool["name"] for tool in catalogue["tools"])
    failed = passed = 0
    for era in args.era or ["legacy", "auto"]:
        try:
            checks = asyncio.run(run_era(args, era))
        except BaseException as e:  # noqa: BLE001 - report any crash as a failed check
            traceback.print_exc()
            checks = Checks(f"python {era}")
            checks.check("session ran to the end", False, f"{type(e).__name__}: {e}")
        print(f"python SDK, {era} era: {checks.passed} passed, {checks.failed} failed", flush=True)
        passed += checks.passed
        failed += checks.failed
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
