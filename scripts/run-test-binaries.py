#!/usr/bin/env python3
"""Runs the test binaries `cargo test --no-run --message-format=json` built, in two lanes at once.

cargo runs test binaries one after another, and holds its build lock while they run, so two
`cargo test`s cannot overlap. Most of the suite's time is the CLI's integration tests
(`crates/cli/tests`): real `aikernel node` processes, anvil and JSON-RPC, mostly waiting for
blocks and deadlines (node_windows: 30 s of CPU in 134 s). The other binaries (the engine,
the kernels, the PTX interpreter, the contracts' bindings) mostly compute. So the CLI's
binaries run in one lane and everything else in the other, followed by any extra commands
given with --then (the aarch64 kernels under qemu): the waiting fills the computing's gaps.

Each binary runs as cargo runs it: from its package's folder, with CARGO_MANIFEST_DIR and
CARGO_PKG_NAME set, no arguments. Its output goes to LOGS/cargo-<lane>.log after a cargo-style
`Running` line (test.sh counts the `test result:` lines of every cargo-*.log); an extra
command's goes to the log named with it. Every job runs even after a failure; the script
prints one line per job as it ends, then the jobs by time, and exits 1 if any failed, naming
them.

usage: run-test-binaries.py ARTIFACTS_JSON LOGS [--then NAME LOG COMMAND]...
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

# Binaries of packages under these folders form the waiting lane.
WAITING = ("crates/cli",)
# Lines of a failed job's output printed with its failure (the rest is in its log).
TAIL = 80


def binaries(artifacts: Path):
    """(package folder, package name, display name, executable) of every test binary."""
    found = []
    for line in artifacts.read_text().splitlines():
        if not line.startswith("{"):
            continue
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("profile", {}).get("test"):
            continue
        exe = msg.get("executable")
        if not exe:
            continue
        manifest = Path(msg["manifest_path"])
        package = msg["package_id"].split("#")[-1].split("@")[0]
        target = msg["target"]
        src = Path(target["src_path"])
        try:
            src_shown = src.relative_to(manifest.parent)
        except ValueError:
            src_shown = src
        kind = "unittests " if target["kind"] != ["test"] else ""
        found.append((manifest.parent, package, f"{kind}{src_shown}", Path(exe)))
    if not found:
        sys.exit(f"no test binaries in {artifacts}: did `cargo test --no-run` build any?")
    return found


class Lane(threading.Thread):
    def __init__(self, name, jobs, results, lock):
        super().__init__(name=name)
        self.jobs, self.results, self.lock = jobs, results, lock

    def run(self):
        for job in self.jobs:
            label, log, command, cwd, env = job
            start = time.monotonic()
            with open(log, "a", encoding="utf-8") as out:
                out.write(f"\n     Running {label}\n")
                out.flush()
                began = out.tell()
                rc = subprocess.call(command, cwd=cwd, env=env, stdout=out,
                                     stderr=subprocess.STDOUT)
            took = time.monotonic() - start
            with self.lock:
                self.results.append((took, label, rc))
                state = "ok" if rc == 0 else f"FAILED (exit {rc}; log {log})"
                print(f"[{self.name}] {label}: {state}, {took:.0f} s", flush=True)
                if rc != 0:
                    with open(log, encoding="utf-8", errors="replace") as out:
                        out.seek(began)
                        tail = out.read().splitlines()[-TAIL:]
                    print("\n".join(f"    {t}" for t in tail), flush=True)


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    artifacts, logs = Path(args[0]), Path(args[1])
    extra = args[2:]
    root = Path.cwd()
    lanes = {"nodes": [], "compute": []}
    for folder, package, shown, exe in binaries(artifacts):
        rel = folder.relative_to(root) if folder.is_relative_to(root) else folder
        lane = "nodes" if str(rel).startswith(WAITING) else "compute"
        env = dict(os.environ, CARGO_MANIFEST_DIR=str(folder), CARGO_PKG_NAME=package)
        exe_shown = exe.relative_to(root) if exe.is_relative_to(root) else exe
        label = f"{rel}: {shown} ({exe_shown})"
        lanes[lane].append((label, logs / f"cargo-{lane}.log", [str(exe)], folder, env))
    while extra:
        if len(extra) < 4 or extra[0] != "--then":
            sys.exit(f"expected --then NAME LOG COMMAND, got {extra}")
        _, name, log, command = extra[:4]
        extra = extra[4:]
        lanes["compute"].append((name, logs / log, ["bash", "-c", command], root, None))
    results, lock = [], threading.Lock()
    threads = [Lane(n, jobs, results, lock) for n, jobs in lanes.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("\nTest jobs by time (the two lanes ran at once):")
    for took, label, rc in sorted(results, reverse=True):
        print(f"{took:6.0f} s  {label}{'' if rc == 0 else '  FAILED'}")
    failed = [label for _, label, rc in results if rc != 0]
    if failed:
        print("\nfailed:\n  " + "\n  ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
