"""The documents tell the truth: docs/CONFIGURATION.md names every setting with its default, and the README's
first two sections run as typed and show what they say."""

import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from roz_pipeline.registry import Camera
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.connection import running_postmaster
from roz_pipeline_tests.dagster_ui import graphql, served
from roz_pipeline_tests.helpers import SAMPLE_VIDEOS, free_port, skip_or_fail
from roz_pipeline_tests.recorders import as_a_camera_sends_it, cut, frigate_name

CONFIGURATION = REPO_ROOT / "docs" / "CONFIGURATION.md"
SETTINGS = REPO_ROOT / "roz_pipeline" / "settings.py"
READ_BY_LIBRARIES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # boto3 reads them, Roz passes nothing
TEST_SETTINGS = {"ROZ_TEST_DATABASE_URL", "ROZ_TEST_REQUIRE_ALL"}  # read by the tests, not the package


def _table_rows(text: str) -> dict[str, tuple[str, str]]:
    """Each documented name (every backticked name in a row's first cell) -> (meaning, default)."""
    rows = {}
    for first, meaning, default in re.findall(r"^\| ([^|]+) \| (.+) \| ([^|]+) \|$", text, re.MULTILINE):
        for name in re.findall(r"`([A-Za-z_]+)`", first):
            rows[name] = (meaning, default)
    return rows


def _settings_read() -> dict[str, str | None]:
    """Every variable settings.py reads -> its default as written there (None where it has none)."""
    source = SETTINGS.read_text()
    names = dict.fromkeys(re.findall(r'"((?:ROZ|AWS|DAGSTER)_[A-Z_]+|DATABASE_URL)"', source))
    for name, default in re.findall(r'(?:env|_positive|_choice)\("([A-Z_]+)", "([^"]*)"', source):
        names[name] = default
    constants = dict(re.findall(r'^(DEFAULT_[A-Z_]+) = "([^"]*)"', source, re.MULTILINE))
    for name, constant in re.findall(r'(?:env|_positive|_choice)\("([A-Z_]+)", (DEFAULT_[A-Z_]+)', source):
        names[name] = constants[constant]
    for name, constant in (("ROZ_CELERY_BROKER", "DEFAULT_CELERY_BROKER"),
                           ("ROZ_CELERY_BACKEND", "DEFAULT_CELERY_BACKEND")):
        names[name] = constants[constant]  # read through CELERY_BROKER / CELERY_BACKEND
    for name in re.findall(r'if env\("([A-Z_]+)"\) else None', source):
        names[name] = None  # read only when set: no default
    return names


def test_configuration_names_every_variable_settings_reads_and_no_other():
    documented = _table_rows(CONFIGURATION.read_text())
    variables = {name for name in documented if name.isupper()}
    read = _settings_read()
    assert read.keys() - variables == set(), "read by settings.py, not in docs/CONFIGURATION.md"
    assert variables - read.keys() - READ_BY_LIBRARIES - TEST_SETTINGS == set(), "documented, never read"


def test_configuration_gives_each_variable_the_default_settings_uses():
    documented = _table_rows(CONFIGURATION.read_text())
    for name, default in _settings_read().items():
        if default is not None and name != "DAGSTER_HOME":
            assert f"`{default}`" in documented[name][1], (name, default, documented[name][1])


def test_configuration_names_every_registry_key_with_its_default():
    documented = _table_rows(CONFIGURATION.read_text())
    for field in dataclasses.fields(Camera):
        if field.name == "camera_id":
            continue
        assert field.name in documented, field.name
        if isinstance(field.default, (int, float, str)):
            shown = re.search(r"`([^`]+)`", documented[field.name][1])
            assert shown, (field.name, documented[field.name][1])
            value = shown.group(1)
            assert (float(value) == field.default) if isinstance(field.default, (int, float)) \
                else value == field.default, (field.name, field.default, value)


# -- the README's first two sections, typed as written -------------------------------------------------------------

README = REPO_ROOT / "README.md"
QUICK_START = ("## Two commands", "## Your own camera in three steps")
README_RECORDINGS, README_DAY = "/media/frigate/recordings", "2026-11-20"  # the two things a user types differently
SERVERS = {"./run ui": "-p", "./run explore": "--port"}  # pages: started, asked, stopped with Ctrl-C


def readme_blocks(section: str) -> list[tuple[str, str]]:
    """The (language, text) of each code block of the README's `section`."""
    text = README.read_text()
    start = text.index(section + "\n")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```(\w+)\n(.*?)```", text[start:end], re.S)


def checkout_copy(destination: Path) -> Path:
    """The repository's tracked files (times kept, so `./run` does not reinstall) with this virtualenv as `.venv`."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    for name in files.splitlines():
        if (REPO_ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, destination / name)
    (destination / ".venv").symlink_to(Path(sys.prefix))
    (Path(sys.prefix) / ".roz-installed").touch()  # installed: the tests run in it
    return destination


def frigate_recordings(root: Path, day: date) -> Path:
    """Real footage as Frigate leaves it: OpenCV's vtest.avi (80 s of a street) from 14:00 UTC on `day`, as a camera
    streams it, cut into 10 s segments by ffmpeg's segment muxer under `recordings/<day>/14/Front_Door/`."""
    source = SAMPLE_VIDEOS / "vtest.avi"
    if not source.exists():
        skip_or_fail(f"{source} is missing: install Debian's opencv-doc (apt-get install opencv-doc)")
    recording = as_a_camera_sends_it(source, root / "camera" / "front-door.mp4")
    cut(recording, datetime.combine(day, time(14), timezone.utc), 10, frigate_name(root / "recordings"))
    return root / "recordings"


def typed(text: str, recordings: Path, day: date) -> str:
    return text.replace(README_RECORDINGS, str(recordings)).replace(README_DAY, day.isoformat())


def page(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as response:
        return response.read().decode()


def runs(port: int) -> list[dict]:
    return graphql(port, "{ runsOrError { ... on Runs { results { status tags { key value } } } } }"
                   )["runsOrError"]["results"]


def run_script(text: str, folder: Path, env: dict) -> str:
    """A README block that is not a page to open, run as one bash script: its output."""
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", text], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"{text}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@contextlib.contextmanager
def opened(text: str, folder: Path, env: dict) -> Iterator[list[int]]:
    """The pages a README block opens (each line: a command and its URL), each on a free port instead of the one
    documented: their ports, in order. Stopped as Ctrl-C stops them."""
    with contextlib.ExitStack() as stack:
        ports = []
        for line in filter(None, text.splitlines()):
            command = line.split("#")[0].strip()
            option = next(option for prefix, option in SERVERS.items() if command.startswith(prefix))
            ports.append(free_port())
            stack.enter_context(served(f"{command} {option} {ports[-1]}", ports[-1], folder, env))
        yield ports


@pytest.mark.slow
def test_the_readme_quick_start_runs_as_typed_and_shows_what_it_says(tmp_path):
    """A newcomer's first hour: the demo and its two pages, then their own Frigate camera registered, pointed at,
    processed and looked at in the explorer and the Dagster UI, typed from the README (the recordings folder and the
    day aside)."""
    day = date.today() - timedelta(days=1)
    recordings = frigate_recordings(tmp_path / "frigate", day)
    folder = checkout_copy(tmp_path / "roz")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROZ_", "DAGSTER_")) and k != "DATABASE_URL"}
    (_, commands), (_, demo_pages) = readme_blocks(QUICK_START[0])[:2]
    blocks = [(language, typed(text, recordings, day)) for language, text in readme_blocks(QUICK_START[1])]
    (_, register), (_, point), (_, process), printed, (_, pages) = blocks

    assert "./run test" in commands  # the suite this test is part of: everything else is run
    demo = run_script(commands.replace("./run test", ": ./run test"), folder, env)
    assert "./run ui --demo" in demo and "./run explore --demo" in demo  # "ends by saying what to open"
    with opened(demo_pages, folder, env) as (ui, explorer):
        assert 'href="/cameras/lobby' in page(explorer, "/") and "loading-dock" in page(explorer, "/")
        assert {tag["value"] for r in runs(ui) for tag in r["tags"] if tag["key"] == "camera"} == {
            "lobby", "loading-dock"}
        assert {r["status"] for r in runs(ui)} == {"SUCCESS"}

    run_script(register, folder, env)
    run_script(point, folder, env)
    output = run_script(process, folder, env)
    assert printed[0] == "text" and printed[1].strip() in output  # what the README says materialize prints
    assert f"{day} 14:00" in output  # the timeline's hour, with no daemon
    with opened(pages, folder, env) as (explorer, ui):
        assert f'href="/cameras/front-door?from={day}T00:00' in page(explorer, "/")  # the day it has footage
        assert "front-door" in page(explorer, f"/cameras/front-door?from={day}T14:00&to={day}T16:00")
        mine = [r for r in runs(ui) if {"key": "camera", "value": "front-door"} in r["tags"]]
        assert len(mine) >= 3 and {r["status"] for r in mine} == {"SUCCESS"}  # minutes, hours, day
    for pgdata in (folder / ".roz" / "pgdata", folder / ".roz" / "demo" / "pgdata"):
        assert running_postmaster(pgdata) is None  # each command stopped the embedded PostgreSQL it started
