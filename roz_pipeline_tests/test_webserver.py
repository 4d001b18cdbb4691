"""`dagster-webserver -w workspace.yaml` from the repository root serves the whole code location over GraphQL."""

import os
import subprocess

import pytest

from roz_pipeline.settings import REPO_ROOT
from roz_pipeline_tests.dagster_ui import dagster_ui
from roz_pipeline_tests.helpers import KEEP, T0, make_clip

QUERY = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  name jobs { name } sensors { name } schedules { name }
  assetNodes { assetKey { path } groupName dependencyKeys { path } }
} } } }"""


def test_webserver_from_workspace_yaml_answers_graphql_with_assets_and_sensors(tmp_path):
    registry = tmp_path / "cameras.yaml"
    registry.write_text("cameras:\n  lobby: {}\n  yard: {}\n  dock: {}\n")
    (tmp_path / "dagster").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), "ROZ_CAMERAS_FILE": str(registry),
           "ROZ_HOME": str(tmp_path / "home")}
    with dagster_ui(env, tmp_path / "logs") as ui:
        (repository,) = ui.query(QUERY)["repositoriesOrError"]["nodes"]

    assets = {"/".join(a["assetKey"]["path"]): a for a in repository["assetNodes"]}
    assert {"roz_schema", "clip_store", "heatmap_minutes/lobby", "heatmap_minutes/yard", "heatmap_minutes/dock"} <= assets.keys()
    assert assets["heatmap_minutes/yard"]["groupName"] == "cameras"
    assert {"roz_schema", "clip_store"} <= {"/".join(d["path"]) for d in assets["heatmap_minutes/yard"]["dependencyKeys"]}
    assert {"heatmap_minutes/yard"} == {"/".join(d["path"]) for d in assets["heatmap_hours/yard"]["dependencyKeys"]}
    assert assets["heatmap_days/yard"]["groupName"] == "rollups"
    assert {"new_clips_sensor", "follow_cameras_sensor", "stale_cameras_sensor", "run_failure_alert_sensor",
            "rollup_automation_sensor"} <= {s["name"] for s in repository["sensors"]}
    assert {"__ASSET_JOB", "follow_cameras_job", "retention_cleanup_job", "vacuum_analyze_job"} <= {
        j["name"] for j in repository["jobs"]}
    assert {s["name"] for s in repository["schedules"]} == {"nightly_retention_cleanup", "nightly_vacuum_analyze"}


RUNS = """{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"""


@pytest.mark.slow
def test_run_ui_shows_the_runs_roz_materialize_recorded(tmp_path, migrated_database):
    """`./run roz materialize ...` then `./run ui`, as a user types them: one instance ($ROZ_HOME/dagster), so the
    UI lists the runs the command made, under the one code location name."""
    registry, videos = tmp_path / "cameras.yaml", tmp_path / "videos"
    registry.write_text(f"cameras:\n  lobby: {{{KEEP}}}\n")
    make_clip(videos, "lobby", T0)
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"} | {
        "DATABASE_URL": migrated_database, "ROZ_HOME": str(tmp_path / "home"), "ROZ_CAMERAS_FILE": str(registry),
        "ROZ_VIDEO_ROOT": str(videos), "ROZ_PARTITIONS_START": "2026-11-19"}
    made = subprocess.run(["./run", "roz", "materialize", "--camera", "lobby", "--from", "2026-11-20T14:00",
                           "--to", "2026-11-20T14:01"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    with dagster_ui(env, tmp_path / "logs", command=lambda port: ["./run", "ui", "-p", str(port)]) as ui:
        runs = ui.query(RUNS)["runsOrError"]["results"]
        locations = ui.query("{ workspaceOrError { ... on Workspace { locationEntries { name } } } }")

    assert {tag["value"] for run in runs for tag in run["tags"] if tag["key"] == "camera"} == {"lobby"}
    assert {run["status"] for run in runs} == {"SUCCESS"} and len(runs) == 3  # the hour, then its hour and day
    assert [entry["name"] for entry in locations["workspaceOrError"]["locationEntries"]] == ["roz_pipeline"]

