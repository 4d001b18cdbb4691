"""The demo as a user looks at it after `./run demo`: `./run ui --demo` and `./run explore --demo`, from a shell whose
Roz variables (and the repository's .env) point elsewhere, show the demo's runs, checks and cameras, all green."""

import os
import subprocess
import time

import pytest

from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.connection import running_postmaster
from roz_pipeline_tests.dagster_ui import graphql, served
from roz_pipeline_tests.helpers import free_port
from roz_pipeline_tests.test_explore_browser import chromium  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow  # the demo, Dagster's UI and a browser

CAMERAS = {"lobby", "loading-dock"}
RUNS = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"
CHECKS = """{ assetNodes { assetKey { path } partitionKeys
  assetChecksOrError { ... on AssetChecks { checks { name } } } } }"""
LATEST_CHECK = """query ($key: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $name, limit: 1) { status evaluation { success } } }"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A shell after `./run demo`, whose own settings would show other data (or none) if they leaked into the demo's
    UI and explorer: (its environment, the demo's folder)."""
    home = tmp_path_factory.mktemp("user") / "roz-home"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_HOME")}
    made = subprocess.run(["./run", "demo"], cwd=REPO_ROOT, env=env | {"ROZ_HOME": str(home)}, capture_output=True,
                          text=True, timeout=900)
    assert made.returncode == 0, made.stderr[-3000:]
    users = tmp_path_factory.mktemp("users-own")
    (users / "cameras.yaml").write_text("cameras:\n  driveway: {}\n")
    env |= {"ROZ_HOME": str(home), "ROZ_CLIP_LAYOUT": "frigate", "ROZ_CAMERAS_FILE": str(users / "cameras.yaml"),
            "ROZ_PARTITIONS_START": "2026-11-01", "DAGSTER_HOME": str(users),
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/users_own"}
    return env, home / "demo"


def _camera_checks(port: int) -> dict:
    """{(asset, check): (status, passed)} of the latest evaluation of each check of the demo's cameras' assets."""
    latest = {}
    for node in graphql(port, CHECKS)["assetNodes"]:
        path = node["assetKey"]["path"]
        for check in (node["assetChecksOrError"].get("checks") or []) if path[-1] in CAMERAS else []:
            (execution,) = graphql(port, LATEST_CHECK, {"key": {"path": path}, "name": check["name"]}
                                    )["assetCheckExecutions"] or [None]
            latest["/".join(path), check["name"]] = execution and (execution["status"],
                                                                   execution["evaluation"]["success"])
    return latest


def test_run_ui_demo_lists_the_demos_runs_succeeded_and_its_cameras_checks_passed(demo):
    env, folder = demo
    first_day = dict(line.split("=", 1) for line in (folder / ".env").read_text().splitlines()
                     if "=" in line)["ROZ_PARTITIONS_START"]
    port = free_port()
    with served(f"./run ui --demo -p {port}", port, env=env):
        deadline = time.monotonic() + 180
        while not (nodes := graphql(port, CHECKS)["assetNodes"]):  # the code location is still loading
            assert time.monotonic() < deadline, "no asset in the UI within 180 s"
            time.sleep(1)
        runs = graphql(port, RUNS)["runsOrError"]["results"]
        checks = _camera_checks(port)
        while running_postmaster(folder / "pgdata") is None:  # until a sensor's tick has started it
            assert time.monotonic() < deadline + 120, "the UI's sensors did not start the demo's PostgreSQL"
            time.sleep(1)

    # the code server read the demo's .env and registry: its working directory is the demo's folder
    minutes = {node["assetKey"]["path"][-1]: node["partitionKeys"] for node in nodes
               if node["assetKey"]["path"][0] == "heatmap_minutes"}
    assert minutes.keys() == CAMERAS and minutes["lobby"][0].startswith(first_day)
    assert {tag["value"] for run in runs for tag in run["tags"] if tag["key"] == "camera"} == CAMERAS
    assert len(runs) >= 6 and {run["status"] for run in runs} == {"SUCCESS"}
    assert {camera for asset, _ in checks for camera in CAMERAS if asset.endswith(f"/{camera}")} == CAMERAS
    assert set(checks.values()) == {("SUCCEEDED", True)}, checks
    assert running_postmaster(folder / "pgdata") is None  # Ctrl-C stopped the embedded PostgreSQL it started


def test_run_explore_demo_shows_both_demo_cameras_fresh_or_quiet_and_nothing_red(demo, chromium):  # noqa: F811
    """The demo's cameras keep only footage with motion: fresh for the grace (10 minutes) after its footage ends,
    quiet from then on (as the day after a user ran it), never stale."""
    env, folder = demo
    port = free_port()
    with served(f"./run explore --demo --port {port}", port, env=env):
        page = chromium.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        states = {row.get_attribute("data-camera"): row.query_selector(".state").inner_text()
                  for row in page.query_selector_all("#cameras tbody tr")}
        # explore.css draws a stale camera's state and errors in red (#b00): nothing on the page may be
        red = page.evaluate("[...document.querySelectorAll('body *')].filter(e => getComputedStyle(e).color === "
                            "'rgb(187, 0, 0)').map(e => e.outerHTML.slice(0, 120))")

    assert states.keys() == CAMERAS and set(states.values()) <= {"fresh", "quiet"}, states
    assert red == []
    assert running_postmaster(folder / "pgdata") is None
