"""The code location as Dagster's processes load it."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from dagster import AssetKey, build_sensor_context

from roz_pipeline import settings
from roz_pipeline.registry import RegistryError, load_registry, shard_of
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline_tests.helpers import T0, execute_request, local_defs, make_clip, registry_file, rows


def test_the_definitions_hold_everything_the_interface_names(tmp_path):
    """In-process and fast: every asset, check, job, schedule and sensor the public interface names (README, docs/),
    spelled as it does, with each camera's assets in their groups."""
    registry = registry_file(tmp_path, {"lobby": {}, "yard": {}})
    defs = local_defs(registry, tmp_path / "videos", "postgresql://unused", grain="hour")
    graph = defs.resolve_asset_graph()
    for camera in ("lobby", "yard"):
        minutes, hours, days = (AssetKey([prefix, camera]) for prefix in ("heatmap_minutes", "heatmap_hours",
                                                                          "heatmap_days"))
        assert graph.get(minutes).group_name == "cameras"
        assert graph.get(hours).group_name == graph.get(days).group_name == "rollups"
        assert AssetKey("roz_schema") in graph.get(minutes).parent_keys
        assert graph.get(minutes).partitions_def.get_partition_key_for_timestamp(T0.timestamp()) == "2026-11-20-14:00"
        assert {check.name for check in graph.get_check_keys_for_assets([minutes])} >= {"fresh", "recent_gaps"}
    for job in ("retention_cleanup_job", "vacuum_analyze_job", "follow_cameras_job"):
        assert defs.resolve_job_def(job).name == job
    assert {s.name for s in defs.schedules} == {"nightly_retention_cleanup", "nightly_vacuum_analyze"}
    assert {s.name for s in defs.sensors} >= {"new_clips_sensor", "follow_cameras_sensor", "stale_cameras_sensor",
                                              "run_failure_alert_sensor", "rollup_automation_sensor"}


def test_loading_the_code_location_warns_nothing(tmp_path):
    registry = registry_file(tmp_path, {"lobby": "regions: {door: [0, 0, 10, 10]}", "yard": {}, "dock": {}})
    env = {**os.environ, "ROZ_CAMERAS_FILE": str(registry), "ROZ_HOME": str(tmp_path / "home")}
    env.pop("DATABASE_URL", None)
    # as `dagster dev`, the daemon or `dagster api grpc` import it, every warning an error
    loaded = subprocess.run([sys.executable, "-W", "error", "-c",
                             "from roz_pipeline.definitions import defs; print(len(defs.get_repository_def()"
                             ".assets_defs_by_key))"],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split() == ["12"]  # schema, clip store, 3 x (minutes, hours, days), lobby's regions


def test_a_sites_cameras_show_as_its_own_group_and_stay_in_the_rollup_automation(tmp_path, monkeypatch):
    from roz_pipeline.defs import build_definitions

    monkeypatch.setenv("ROZ_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    registry = registry_file(tmp_path, {"lobby": "site: hq, regions: {door: [0, 0, 10, 10]}",
                                        "dock": "site: warehouse_2", "yard": {}})

    defs = build_definitions(registry)
    graph = defs.resolve_asset_graph()

    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups["heatmap_minutes/lobby"] == groups["heatmap_days/lobby"] == groups["heatmap_regions/lobby"] == "hq"
    assert groups["heatmap_minutes/dock"] == groups["heatmap_hours/dock"] == "warehouse_2"
    assert (groups["heatmap_minutes/yard"], groups["heatmap_hours/yard"]) == ("cameras", "rollups")  # no site
    def selected(sensor_name):
        return defs.resolve_sensor_def(sensor_name).asset_selection.resolve(graph)

    assert selected("rollup_automation_sensor") == {key for key in graph.get_all_asset_keys()
                                                    if key.path[0] in ("heatmap_hours", "heatmap_days")}
    assert selected("regions_automation_sensor") == {AssetKey(["heatmap_regions", "lobby"])}


@pytest.mark.parametrize("site", ["site-a", "Hq", "rollups", 7])
def test_a_site_that_cannot_name_a_group_is_refused_with_its_camera(tmp_path, site):
    registry = tmp_path / "cameras.yaml"
    registry.write_text(f"cameras:\n  lobby: {{site: {site}}}\n")

    with pytest.raises(RegistryError, match="camera 'lobby': site must be"):
        load_registry(registry)


def test_two_code_locations_split_the_registry_by_site(tmp_path, monkeypatch, migrated_database, instance):
    registry = registry_file(tmp_path, {"lobby": "site: hq", "door": "site: hq", "dock": "site: warehouse",
                                        "yard": "site: warehouse"})
    videos = tmp_path / "videos"
    make_clip(videos, "dock", T0 + timedelta(minutes=10))  # a clip of the warehouse's camera, an hour late

    def location(sites):
        monkeypatch.setenv("ROZ_SITES", sites)
        return local_defs(registry, videos, migrated_database, grain="hour", clock=lambda: T0 + timedelta(hours=1.5))

    hq, warehouse = location("hq"), location("warehouse")
    monkeypatch.setenv("ROZ_SITES", "hq,mars")
    with pytest.raises(RegistryError, match="ROZ_SITES names site.s. mars that no camera of the registry has"):
        local_defs(registry, videos, migrated_database, grain="minute")

    def served(defs):
        graph = defs.resolve_asset_graph()
        materializable = {key.to_user_string() for key in graph.get_all_asset_keys()
                          if graph.get(key).is_materializable}
        jobs = {job.name for job in defs.resolve_all_job_defs()} & {"retention_cleanup_job", "vacuum_analyze_job"}
        return ({key.split("/")[1] for key in materializable if key.startswith("heatmap_minutes/")},
                "roz_schema" in materializable, jobs, len(list(defs.schedules or [])))

    assert served(hq) == ({"lobby", "door"}, True, {"retention_cleanup_job", "vacuum_analyze_job"}, 2)
    assert served(warehouse) == ({"dock", "yard"}, False, set(), 0)

    ticks = {name: defs.resolve_sensor_def("new_clips_sensor")(
        build_sensor_context(instance=instance, definitions=defs, resources=defs.resources))
        for name, defs in (("hq", hq), ("warehouse", warehouse))}
    assert ticks["hq"].run_requests == [] and ticks["hq"].asset_events == []  # dock is no unregistered camera
    (request,) = ticks["warehouse"].run_requests
    assert request.run_key.startswith("dock:2026-11-20-14:00:2026-11-20-14:00:")
    assert execute_request(warehouse, request, instance).success
    assert [row[0] for row in rows(migrated_database, "dock")] == [T0 + timedelta(minutes=10)]


def test_a_split_registry_needs_every_camera_in_a_site(tmp_path, monkeypatch):
    registry = tmp_path / "cameras.yaml"
    registry.write_text("cameras:\n  lobby: {site: hq}\n  yard: {}\n")
    monkeypatch.setenv("ROZ_SITES", "hq")

    with pytest.raises(RegistryError, match="camera.s. yard have no site"):
        shard_of(load_registry(registry), settings.sites())


def test_dagsters_project_tooling_loads_the_code_location(tmp_path):
    """`dg check defs` (pyproject's [tool.dg]) from the repository root loads the same definitions as workspace.yaml."""
    env = {**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parent.parent),
           "ROZ_CAMERAS_FILE": str(REPO_ROOT / "cameras.yaml"), "ROZ_HOME": str(tmp_path / "home")}

    checked = subprocess.run([str(Path(sys.executable).parent / "dg"), "check", "defs"], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, timeout=300)

    assert checked.returncode == 0 and "All definitions loaded successfully." in checked.stdout + checked.stderr, \
        checked.stderr[-3000:]
