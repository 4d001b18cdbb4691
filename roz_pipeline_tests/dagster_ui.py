"""A real Dagster UI for tests: `dagster-webserver -w workspace.yaml` (with `dagster-daemon run` when asked) started
from the repository root on a free port, or a page a user starts (`./run ui`, `./run explore`), and GraphQL asked as
the UI asks it."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance

from roz_pipeline.settings import REPO_ROOT
from roz_pipeline_tests.helpers import free_port

BIN = Path(sys.executable).parent
PATIENCE = 600  # seconds a wait goes on: a guard against a test hanging, not a measured expectation
LOADED = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }"


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    """The `data` of the webserver's answer; AssertionError with its errors, if any."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    assert not answer.get("errors"), answer["errors"]
    return answer["data"]


@dataclass
class DagsterUI:
    """The started processes (each in its own process group), the webserver's port and the folder of their logs."""

    port: int
    processes: list[subprocess.Popen]
    logs: Path

    def query(self, query: str, variables: dict | None = None) -> dict:
        return graphql(self.port, query, variables)

    def wait_for(self, query: str, found: Callable[[dict], object], variables: dict | None = None,
                 missing: tuple = ()):
        """Ask `query` every second until `found(data)` is not None, and return that; fails when a process ended
        (errors of `missing` types mean "not yet")."""
        deadline = time.monotonic() + PATIENCE
        while True:
            for process in self.processes:
                assert process.poll() is None, f"{process.args[0]} ended:\n{self.log_tails()}"
            with contextlib.suppress(OSError, *missing):  # OSError: not listening yet
                answer = found(self.query(query, variables))
                if answer is not None:
                    return answer
            assert time.monotonic() < deadline, f"no answer to {query[:80]!r} in {PATIENCE} s:\n{self.log_tails()}"
            time.sleep(1)

    def log_tails(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in sorted(self.logs.glob("*.log")))


@contextlib.contextmanager
def dagster_ui(env: dict, logs: Path, daemon: bool = False,
               command: Callable[[int], list[str]] | None = None) -> Iterator[DagsterUI]:
    """The UI on `env`'s DAGSTER_HOME, once it lists the code location: `dagster-webserver` (or `command(port)`),
    and `dagster-daemon run` (sensors, schedules, queued runs, backfills) with `daemon`. Stopped on leaving."""
    port = free_port()
    commands = {"webserver": command(port) if command else [
        str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]}
    if daemon:
        commands["daemon"] = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
    logs.mkdir(parents=True, exist_ok=True)
    if daemon:  # the instance's SQLite storage made once: two processes starting on a new home race to create it
        DagsterInstance.from_config(env["DAGSTER_HOME"]).dispose()
    processes = []
    try:
        for name, argv in commands.items():
            with (logs / f"{name}.log").open("w") as log:
                processes.append(subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                  start_new_session=True))
        ui = DagsterUI(port, processes, logs)
        ui.wait_for(LOADED, lambda data: data["repositoriesOrError"]["nodes"] or None, missing=(KeyError,))
        yield ui
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)


@contextlib.contextmanager
def served(command: str, port: int, cwd: Path = REPO_ROOT, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """A command a user types that serves pages on `port` (`./run ui -p PORT`), once it answers; stopped as Ctrl-C
    stops it: SIGINT to its process group, which must then end by itself. Its output goes to a file, never a pipe
    nobody reads (`dagster dev` blocks once it has printed a pipe's 64 KB), and any failure inside ends with its
    tail."""
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, shell=True, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)

        def tail() -> str:
            output.seek(0)
            return f"{command} printed:\n{output.read()[-5000:]}"

        try:
            deadline = time.monotonic() + PATIENCE
            while True:
                assert process.poll() is None, f"{command} ended. {tail()}"
                with contextlib.suppress(OSError):  # not listening yet
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).close()
                    break
                assert time.monotonic() < deadline, f"{command} did not answer in {PATIENCE} s. {tail()}"
                time.sleep(1)
            try:
                yield process
            except Exception as failure:
                failure.add_note(tail())
                raise
        finally:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired as failure:
                failure.add_note(tail())
                raise
