"""The code location as Dagster's processes load it."""

import os
import subprocess
import sys

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
