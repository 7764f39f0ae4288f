#!/usr/bin/env python3
"""Turns the addresses trace.c recorded into the startup layout, or checks a binary's layout.

  layout.py write BINARY OFFSETS SCRIPT   the functions run, in first-run order, as the linker
                                          script that puts them first (link/startup.ld)
  layout.py check BINARY OFFSETS SCRIPT   how much of the code run sits in .text.startup; exits
                                          1 below CHECK_SHARE or above CHECK_GROWTH (the script
                                          has gone stale)
"""
import bisect
import re
import subprocess
import sys
from collections import Counter

CHECK_SHARE = 0.9
# ... and .text.startup may grow at most this much past the code it held when written.
CHECK_GROWTH = 1.5
HEADER = """\
/* The functions a fresh aipass-mcp runs from exec to idle after initialize, in first-run
   order, laid out first and together in release builds (build.rs), so startup faults in
   fewer pages of code. Written by bench/startup-layout/layout.sh; docs/performance.md,
   "Startup layout". The hash in a legacy-mangled name changes with the dependency graph and
   the version, so it is a wildcard wherever that matches one function only.
   Code: {kib} KiB in {count} functions. */
SECTIONS {
  .text.startup : {
"""
FOOTER = """\
  }
} INSERT BEFORE .text;
"""


def functions(binary):
    """(start, size, name) of every function symbol, by address."""
    listing = subprocess.run(
        ["nm", "-n", "-S", "--defined-only", binary], capture_output=True, text=True, check=True
    ).stdout
    found = []
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            found.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    return found


def functions_run(table, offsets_file):
    """The functions of `table` the recorded offsets fall in, each once, in first-run order."""
    starts = [start for start, _, _ in table]
    seen, run = set(), []
    for line in open(offsets_file):
        offset = int(line, 16)
        i = bisect.bisect_right(starts, offset) - 1
        if i >= 0 and offset < table[i][0] + max(table[i][1], 1) and i not in seen:
            seen.add(i)
            run.append(table[i])
    return run


def wildcard(name):
    """The name with its legacy-mangling hash as a wildcard."""
    return re.sub(r"17h[0-9a-f]{16}E$", "17h*E", name)


def write(binary, offsets_file, script):
    table = functions(binary)
    run = functions_run(table, offsets_file)
    # A wildcard that would also take in the other instances of a generic function keeps the
    # exact name instead: it goes stale when the hash changes, but does not bloat the layout.
    instances = Counter(wildcard(name) for _, _, name in table)
    patterns = []
    for _, _, name in run:
        pattern = wildcard(name) if instances[wildcard(name)] == 1 else name
        if pattern not in patterns:
            patterns.append(pattern)
    size = sum(size for _, size, _ in run)
    with open(script, "w") as out:
        out.write(HEADER.replace("{kib}", str(round(size / 1024))).replace("{count}", str(len(run))))
        # A cold function (tracing's callsite registration, a vector's growth) sits in
        # .text.unlikely.NAME, the rest in .text.NAME.
        out.writelines(f"    *(.text.{p} .text.unlikely.{p})\n" for p in patterns)
        out.write(FOOTER)
    print(f"{script}: {len(run)} functions run ({size / 1024:.0f} KiB), {len(patterns)} patterns")


def check(binary, offsets_file, script):
    """Works on a stripped binary too: it needs the section headers, not the symbols."""
    sections = subprocess.run(
        ["readelf", "-SW", binary], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"\s\.text\.startup\s+PROGBITS\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", sections)
    if not found:
        print(f"{binary} has no .text.startup section: built without {script}")
        return 1
    start, size = int(found.group(1), 16), int(found.group(2), 16)
    offsets = [int(line, 16) for line in open(offsets_file)]
    share = sum(start <= offset < start + size for offset in offsets) / max(1, len(offsets))
    written_kib = int(re.search(r"Code: (\d+) KiB", open(script).read()).group(1))
    print(
        f"{binary}: .text.startup is {size / 1024:.0f} KiB ({written_kib} KiB when {script} "
        f"was written) and holds {share:.1%} of the instructions startup runs"
    )
    stale = []
    if share < CHECK_SHARE:
        stale.append(f"it holds less than {CHECK_SHARE:.0%} of the instructions startup runs")
    if size > CHECK_GROWTH * written_kib * 1024:
        stale.append(f"it has grown more than {CHECK_GROWTH}x (wildcards match more functions)")
    for why in stale:
        print(f"stale layout: {why}; run bench/startup-layout/layout.sh, commit {script}")
    return 1 if stale else 0

if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "write":
        write(*sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "check":
        sys.exit(check(*sys.argv[2:]))
    else:
        sys.exit(__doc__)
