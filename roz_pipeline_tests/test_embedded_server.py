"""The embedded PostgreSQL ($ROZ_HOME/pgdata) stops when the last command using it ends, however it ends, and
`roz db stop` stops one left running."""

import os
import signal
import subprocess
import sys

import pytest

from roz_pipeline.storage.connection import live_holders, running_postmaster
from roz_pipeline_tests.helpers import free_port, registry_file


@pytest.fixture
def home_env(tmp_path):
    """The environment of a user with no DATABASE_URL: every roz command uses $ROZ_HOME/pgdata."""
    registry_file(tmp_path, {"lobby": {}})
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_HOME")}
    return env | {"ROZ_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}


def roz(args: list[str], env: dict, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roz_pipeline.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180)


def explorer_holding_the_server(env: dict, cwd) -> subprocess.Popen:
    """`roz explore`, once it holds the embedded server (it says where it listens after starting it)."""
    explorer = subprocess.Popen([sys.executable, "-m", "roz_pipeline.cli", "explore", "--port", str(free_port())],
                                cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "Roz explorer on" in explorer.stdout.readline(), explorer.stderr.read()
    return explorer


def test_roz_explore_ended_by_sigterm_stops_the_embedded_server(tmp_path, home_env):
    pgdata = tmp_path / "home" / "pgdata"
    explorer = explorer_holding_the_server(home_env, tmp_path)
    assert running_postmaster(pgdata) is not None

    explorer.send_signal(signal.SIGTERM)
    explorer.wait(timeout=60)

    assert running_postmaster(pgdata) is None


def test_a_process_killed_without_exit_handlers_does_not_keep_the_server_running(tmp_path, home_env):
    pgdata = tmp_path / "home" / "pgdata"
    explorer = explorer_holding_the_server(home_env, tmp_path)
    explorer.kill()  # SIGKILL: its pid stays in pgserver's handle list
    explorer.wait(timeout=60)
    assert running_postmaster(pgdata) is not None

    migrated = roz(["db", "migrate"], home_env, tmp_path)  # joins the server, then leaves it last

    assert migrated.returncode == 0, migrated.stderr
    assert running_postmaster(pgdata) is None and live_holders(pgdata) == []


def test_roz_db_stop_stops_a_server_left_running_and_refuses_while_it_is_in_use(tmp_path, home_env):
    pgdata = tmp_path / "home" / "pgdata"
    assert roz(["db", "stop"], home_env, tmp_path).stdout == f"the embedded PostgreSQL in {pgdata} was not running\n"
    explorer = explorer_holding_the_server(home_env, tmp_path)
    try:
        refused = roz(["db", "stop"], home_env, tmp_path)
        assert refused.returncode != 0 and f"in use by pid {explorer.pid} (" in refused.stderr
        assert (" explore --port " in refused.stderr and "--force" in refused.stderr
                and "Traceback" not in refused.stderr)
        assert running_postmaster(pgdata) is not None
    finally:
        explorer.kill()  # as an OOM killer would: the server is left running
        explorer.wait(timeout=60)
    assert running_postmaster(pgdata) is not None

    with_a_server = roz(["db", "stop"], home_env | {"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}, tmp_path)

    assert with_a_server.returncode == 0, with_a_server.stderr
    assert with_a_server.stdout.splitlines() == [
        "DATABASE_URL is set: roz db stop stops only the embedded PostgreSQL of ROZ_HOME, never a server",
        f"stopped the embedded PostgreSQL in {pgdata}"]
    assert running_postmaster(pgdata) is None


def test_roz_db_stop_force_stops_a_server_in_use(tmp_path, home_env):
    pgdata = tmp_path / "home" / "pgdata"
    explorer = explorer_holding_the_server(home_env, tmp_path)
    try:
        stopped = roz(["db", "stop", "--force"], home_env, tmp_path)
    finally:
        explorer.terminate()
        explorer.wait(timeout=60)

    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith(f"stopped the embedded PostgreSQL in {pgdata} (in use by pid {explorer.pid} (")
    assert running_postmaster(pgdata) is None
