"""The real Dagster daemon and code servers the live and control-plane benchmarks run: the workspace they load,
the process tree's CPU and memory sampled by kind, the log lines they print at INFO or above, and stopping them."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path

import psutil
import yaml

from roz_pipeline.settings import REPO_ROOT

DAEMON = ["dagster-daemon", "run", "--log-level", "warning"]  # as deploy/README.md runs it
LOUD = re.compile(r" - (INFO|WARNING|ERROR|CRITICAL) - ")
COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def workspace(work: Path, mode: str, environment: dict,
              sites: list[str] | None = None) -> tuple[Path, list[subprocess.Popen]]:
    """The workspace file the daemon loads, and the standalone code servers it names (none in `daemon` mode): one,
    or one per entry of `sites` (each entry a ROZ_SITES value), logging to code-server*.log."""
    if mode == "daemon":
        return REPO_ROOT / "workspace.yaml", []
    template = yaml.safe_load((REPO_ROOT / "deploy" / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    entries, servers = [], []
    for index, served in enumerate(sites or [None]):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        name = template["location_name"] if served is None else f"roz_{index}"
        entries.append({"grpc_server": {**template, "port": port, "location_name": name}})
        log_path = work / ("code-server.log" if served is None else f"code-server-{index}.log")
        server_environment = environment if served is None else {**environment, "ROZ_SITES": served}
        servers.append(subprocess.Popen(
            ["dagster", "api", "grpc", "--module-name", "roz_pipeline.definitions", "--host", "127.0.0.1", "--port",
             str(port)], cwd=REPO_ROOT, env=server_environment, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True))
        deadline = time.monotonic() + 120
        while subprocess.run(["dagster", "api", "grpc-health-check", "--host", "127.0.0.1", "--port", str(port)],
                             env=environment, capture_output=True).returncode != 0:
            if time.monotonic() > deadline or servers[-1].poll() is not None:
                raise RuntimeError(f"the code server did not start: see {log_path}")
            time.sleep(1)
    path = work / "workspace.yaml"
    path.write_text(yaml.safe_dump({"load_from": entries}))
    return path, servers


def stop(processes: list[subprocess.Popen]) -> None:
    """Stop each process and its children (SIGTERM, then SIGKILL after 30 s)."""
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Tree:
    """Process trees (the daemon's, the code server's), sampled: CPU seconds per process (last seen), what each
    process is, and the peak sum of RSS (with each kind's share at that peak)."""

    def __init__(self, roots: list[subprocess.Popen]):
        self.roots = [psutil.Process(root.pid) for root in roots]
        self.cpu: dict[tuple, float] = {}
        self.kind: dict[tuple, str] = {}
        self.peak_rss, self.peak_rss_by_kind = 0, {}

    def sample(self) -> None:
        rss: dict[str, int] = {}
        for process in [p for root in self.roots for p in [root, *root.children(recursive=True)]]:
            try:
                times = process.cpu_times()
                identity = (process.pid, process.create_time())
                if identity not in self.kind:
                    self.kind[identity] = process_kind(process.cmdline())
                self.cpu[identity] = times.user + times.system
                rss[self.kind[identity]] = rss.get(self.kind[identity], 0) + process.memory_info().rss
            except psutil.Error:
                continue
        if sum(rss.values()) > self.peak_rss:
            self.peak_rss, self.peak_rss_by_kind = sum(rss.values()), rss

    def total_cpu(self) -> float:
        return sum(self.cpu.values())

    def cpu_by_kind(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for identity, seconds in self.cpu.items():
            totals[self.kind[identity]] = totals.get(self.kind[identity], 0.0) + seconds
        return totals


def process_kind(command: list[str]) -> str:
    """daemon, code server (the gRPC server the daemon starts for workspace.yaml), run, or the process's name."""
    line = " ".join(command)
    if "dagster-daemon" in line or "dagster_daemon" in line:
        return "daemon"
    if "api grpc" in line:
        return "code server"
    if any(part in line for part in ("execute_run", "api execute", "multiprocessing.spawn", "watch_orphans")):
        return "run"  # the code server starts each run with multiprocessing, plus its orphan watcher
    return Path(command[0]).name if command else "?"


def loud_lines(path: Path, since: datetime, until: datetime) -> int:
    """Lines at INFO or above that the Dagster process logging to `path` printed from `since` to `until`."""
    count = 0
    for line in COLOURS.sub("", path.read_text(errors="replace")).splitlines():
        if LOUD.search(line):
            with contextlib.suppress(ValueError):  # a line without the logger's timestamp
                if since <= datetime.strptime(line[:25], "%Y-%m-%d %H:%M:%S %z") <= until:
                    count += 1
    return count
