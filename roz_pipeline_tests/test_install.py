"""Roz installed from a wheel, outside the checkout, by the Dockerfile's steps: the migrations ship with the
package, and the image's command serves the definitions."""

import json
import shlex
import shutil
import site
import subprocess
import sys
import time

import psycopg
import pytest

from roz_pipeline.settings import REPO_ROOT
from roz_pipeline_tests.helpers import T0, free_port, make_clip

pytestmark = pytest.mark.slow  # builds and installs a wheel: `./run test -m "not slow"` leaves it out

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text().splitlines()


def dockerfile_instructions(keyword: str) -> list[str]:
    """The arguments of every `keyword` instruction of the Dockerfile, continuation lines joined."""
    joined = "\n".join(DOCKERFILE).replace("\\\n", " ").splitlines()
    return [line[len(keyword) + 1:].strip() for line in joined if line.startswith(keyword + " ")]


def build_wheel_as_the_dockerfile_does(source, wheels) -> None:
    """The wheel stage: COPY the files it lists (only those), then its `pip wheel` step."""
    for copy in dockerfile_instructions("COPY"):
        *names, _ = shlex.split(copy)
        for name in names:
            if name.startswith("--from"):
                break
            target = source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if (REPO_ROOT / name).is_dir():
                shutil.copytree(REPO_ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(REPO_ROOT / name, target)
    (wheel_step,) = [run for run in dockerfile_instructions("RUN") if run.startswith("pip wheel")]
    command = [str(wheels) if arg == "/wheels" else arg for arg in shlex.split(wheel_step)[1:]]
    subprocess.run([sys.executable, "-m", "pip", *command, "--quiet"], cwd=source, check=True, capture_output=True,
                   timeout=300)


def test_a_wheel_installed_outside_the_checkout_migrates_and_materializes(tmp_path, empty_database):
    wheels, venv, work, source = tmp_path / "wheels", tmp_path / "venv", tmp_path / "work", tmp_path / "source"
    source.mkdir()  # the package's files alone: a stale build/ of the checkout must not make the wheel
    build_wheel_as_the_dockerfile_does(source, wheels)
    (wheel,) = wheels.glob("roz_pipeline-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # The dependencies come from this environment's site-packages (not Roz itself: its editable hook is a .pth
    # file there, and a path added by a .pth file has its own .pth files ignored).
    (site_packages,) = venv.glob("lib/python*/site-packages")
    (site_packages / "roz-test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", wheel],
                   check=True, capture_output=True, timeout=300)
    work.mkdir()
    make_clip(work / "videos", "lobby", T0)
    (work / "cameras.yaml").write_text("cameras:\n  lobby: {retention_days: 36500}\n")
    env = {"PATH": f"{venv / 'bin'}", "HOME": str(tmp_path), "DATABASE_URL": empty_database,
           "ROZ_CAMERAS_FILE": str(work / "cameras.yaml"), "ROZ_VIDEO_ROOT": str(work / "videos"),
           "ROZ_PARTITIONS_START": "2026-11-01", "DAGSTER_HOME": str(work / "dagster")}

    def roz(*args):
        result = subprocess.run([venv / "bin" / "roz", *args], cwd=work, env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    where = subprocess.run([venv / "bin" / "python", "-c", "import roz_pipeline; print(roz_pipeline.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv))  # the installed package, not the checkout
    migrations = len(list((REPO_ROOT / "db" / "migrations").glob("*.sql")))
    assert f"applied {migrations} migration(s)" in roz("db", "migrate")
    assert "1 minute(s) written" in roz("materialize", "--camera", "lobby", "--from", "2026-11-20T14:00",
                              "--to", "2026-11-20T14:01")
    with psycopg.connect(empty_database) as conn:
        assert conn.execute('SELECT "timestamp", frame_count FROM heatmap_minutes').fetchall() == [(T0, 12)]
    assert "up to date" in roz("db", "migrate")
    result = subprocess.run([venv / "bin" / "roz", "db", "--dir", str(tmp_path / "nowhere"), "migrate"], cwd=work,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "does not exist" in result.stderr

    # The image's command: a gRPC server that loads the definitions (it exits if they fail to load). Dagster's
    # scripts are not in this venv (its dependencies come from the test environment): run them as modules.
    port = free_port()
    program, *arguments = json.loads(dockerfile_instructions("CMD")[0])
    assert program == "dagster"
    command = [venv / "bin" / "python", "-m", "dagster", *[str(port) if a == "3030" else a for a in arguments]]
    server = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while subprocess.run([venv / "bin" / "python", "-m", "dagster", "api", "grpc-health-check", "--port",
                              str(port)], env=env, capture_output=True, timeout=60).returncode != 0:
            assert server.poll() is None, server.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the image's gRPC server did not become healthy in 120 s"
            time.sleep(1)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # shutting down slowly on a busy machine is not what this test checks
            server.kill()
            server.wait(timeout=30)
