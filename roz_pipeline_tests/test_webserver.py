"""`dagster-webserver -w workspace.yaml` from the repository root serves the whole code location over GraphQL, and
what a user does there (a backfill, run by `dagster-daemon run`) works (roz_pipeline_tests/dagster_ui.py)."""

import os
import subprocess
from datetime import timedelta

import pytest

from roz_pipeline.settings import REPO_ROOT
from roz_pipeline_tests.dagster_ui import dagster_ui
from roz_pipeline_tests.helpers import T0, make_clip, partition_key, registry_file

QUERY = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  name jobs { name } sensors { name } schedules { name }
  assetNodes { assetKey { path } groupName description dependencyKeys { path } }
} } } }"""


def test_webserver_from_workspace_yaml_answers_graphql_with_assets_and_sensors(tmp_path):
    registry = registry_file(tmp_path, {"lobby": {}, "yard": {}, "dock": {}})
    (tmp_path / "dagster").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), "ROZ_CAMERAS_FILE": str(registry),
           "ROZ_HOME": str(tmp_path / "home")}
    with dagster_ui(env, tmp_path / "logs") as ui:
        (repository,) = ui.query(QUERY)["repositoriesOrError"]["nodes"]

    assets = {"/".join(a["assetKey"]["path"]): a for a in repository["assetNodes"]}
    assert {"roz_schema", "clip_store", "heatmap_minutes/lobby", "heatmap_minutes/yard",
            "heatmap_minutes/dock"} <= assets.keys()
    assert assets["heatmap_minutes/yard"]["groupName"] == "cameras"
    assert {"roz_schema", "clip_store"} <= {"/".join(d["path"])
                                            for d in assets["heatmap_minutes/yard"]["dependencyKeys"]}
    assert {"heatmap_minutes/yard"} == {"/".join(d["path"]) for d in assets["heatmap_hours/yard"]["dependencyKeys"]}
    assert assets["heatmap_days/yard"]["groupName"] == "rollups"
    # The lineage graph names each of a camera's assets by its camera: the descriptions under it tell them apart.
    assert assets["heatmap_hours/yard"]["description"].startswith("Hours: each UTC hour of yard's minutes summed")
    assert assets["heatmap_days/yard"]["description"].startswith("Days: each UTC day of yard's hours summed")
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
    registry, videos = registry_file(tmp_path), tmp_path / "videos"
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


LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status error { message } runs { runId status } } } }"""
MATERIALIZATIONS = """query($key: AssetKeyInput!, $partitions: [String!]) { assetOrError(assetKey: $key) {
  ... on Asset { assetMaterializations(partitions: $partitions) { partition metadataEntries {
    label ... on IntMetadataEntry { intValue } } } } } }"""
ENDED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


@pytest.mark.slow
def test_a_ui_backfill_over_an_hour_without_footage_and_an_hour_with_footage_completes_as_a_success(
        tmp_path, migrated_database):
    """What a user does in the UI, through the same GraphQL: Materialize > two hour partitions of a camera, one
    with a clip and one without, run by the real daemon. The backfill ends green and both hours are materialized,
    the empty one saying what it found."""
    registry, videos = registry_file(tmp_path), tmp_path / "videos"
    make_clip(videos, "lobby", T0)
    (tmp_path / "dagster").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), "ROZ_CAMERAS_FILE": str(registry),
           "ROZ_HOME": str(tmp_path / "home"), "DATABASE_URL": migrated_database, "ROZ_VIDEO_ROOT": str(videos),
           "ROZ_PARTITIONS_START": f"{T0 - timedelta(days=1):%Y-%m-%d}"}
    empty, with_clip = partition_key(T0 - timedelta(hours=1)), partition_key(T0)
    asset = {"path": ["heatmap_minutes", "lobby"]}
    with dagster_ui(env, tmp_path / "logs", daemon=True) as ui:
        launched = ui.query(LAUNCH, {"params": {"partitionNames": [empty, with_clip], "assetSelection": [asset]}})
        assert launched["launchPartitionBackfill"]["__typename"] == "LaunchBackfillSuccess", launched
        backfill = ui.wait_for(BACKFILL, lambda data: data["partitionBackfillOrError"] if data[
            "partitionBackfillOrError"]["status"] in ENDED else None,
            {"id": launched["launchPartitionBackfill"]["backfillId"]})
        events = ui.query(MATERIALIZATIONS, {"key": asset, "partitions": [empty, with_clip]})
        logs = ui.log_tails()

    assert backfill["status"] == "COMPLETED_SUCCESS", (backfill, logs)
    assert {run["status"] for run in backfill["runs"]} == {"SUCCESS"} and len(backfill["runs"]) == 2
    found = {event["partition"]: {entry["label"]: entry.get("intValue") for entry in event["metadataEntries"]}
             for event in events["assetOrError"]["assetMaterializations"]}
    assert found.keys() == {empty, with_clip}
    assert (found[empty]["minutes_written"], found[empty]["minutes_missing"]) == (0, 60)
    assert (found[with_clip]["minutes_written"], found[with_clip]["minutes_missing"]) == (1, 59)
