"""The code location as Dagster's processes load it."""

import os
import subprocess
import sys

import pytest
from dagster import AssetKey

from roz_pipeline.registry import RegistryError, load_registry
from roz_pipeline.settings import REPO_ROOT


def test_loading_the_code_location_warns_nothing(tmp_path):
    registry = tmp_path / "cameras.yaml"
    registry.write_text("cameras:\n  lobby: {regions: {door: [0, 0, 10, 10]}}\n  yard: {}\n  dock: {}\n")
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
    from roz_pipeline.defs.location import build_definitions

    monkeypatch.setenv("ROZ_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    registry = tmp_path / "cameras.yaml"
    registry.write_text("cameras:\n  lobby: {site: hq, regions: {door: [0, 0, 10, 10]}}\n"
                        "  dock: {site: warehouse_2}\n  yard: {}\n")

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
