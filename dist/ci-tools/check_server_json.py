"""Validates a server.json (the MCP registry entry) against the registry's published schema.

The schema is the copy the `skillsaw` package (PyPI) ships byte for byte from the registry's
static site, for the schema version the file's `$schema` names; nothing is downloaded. Also checks
what the registry checks at publish time that the schema cannot: the npm package's `mcpName`
and the PyPI README's `mcp-name:` marker name this server, and every package has the server's
version.

    python check_server_json.py server.json --npm-package npm/aipass-mcp/package.json --pypi-readme dist/pypi-README.md
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import re
import sys

import jsonschema


def published_schema(url: str) -> dict:
    match = re.fullmatch(r"https://static\.modelcontextprotocol\.io/schemas/(\d{4})-(\d{2})-(\d{2})/server\.schema\.json", url)
    if not match:
        sys.exit(f"$schema is not a published registry schema: {url}")
    folder = importlib.resources.files("skillsaw.schemas.mcp_registry") / f"v{'_'.join(match.groups())}"
    schema = json.loads((folder / "server.schema.json").read_text())
    if schema.get("$id") != url:
        sys.exit(f"the bundled schema's $id is {schema.get('$id')}, not {url}")
    return schema


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("server_json")
    parser.add_argument("--npm-package", required=True)
    parser.add_argument("--pypi-readme", required=True)
    args = parser.parse_args()

    with open(args.server_json) as f:
        server = json.load(f)
    schema = published_schema(server.get("$schema", ""))
    errors = sorted(jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).iter_errors(server), key=str)
    problems = [f"schema: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]

    with open(args.npm_package) as f:
        npm = json.load(f)
    if npm.get("mcpName") != server["name"]:
        problems.append(f"npm mcpName {npm.get('mcpName')!r} is not {server['name']!r}")
    with open(args.pypi_readme) as f:
        if f"mcp-name: {server['name']}" not in f.read():
            problems.append(f"{args.pypi_readme} has no `mcp-name: {server['name']}` marker")
    for package in server.get("packages", []):
        if package.get("version", server["version"]) != server["version"]:
            problems.append(f"{package['registryType']} package version {package.get('version')} is not {server['version']}")
        if package["registryType"] == "npm" and package["identifier"] != npm["name"]:
            problems.append(f"npm identifier {package['identifier']} is not {npm['name']}")
        if package["registryType"] == "mcpb" and "fileSha256" not in package:
            problems.append(f"mcpb package {package['identifier']} has no fileSha256")

    for problem in problems:
        print(problem, file=sys.stderr)
    kinds = ", ".join(p["registryType"] for p in server.get("packages", []))
    print(f"{args.server_json}: {server['name']} {server['version']} ({kinds}) against {schema['$id']}: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
