"""Roz installed from a wheel, outside the checkout: the migrations ship with the package."""

import shutil
import site
import subprocess
import sys

import psycopg

from roz_pipeline.settings import REPO_ROOT
from roz_pipeline_tests.helpers import T0, make_clip


def test_a_wheel_installed_outside_the_checkout_migrates_and_materializes(tmp_path, empty_database):
    wheels, venv, work, source = tmp_path / "wheels", tmp_path / "venv", tmp_path / "work", tmp_path / "source"
    source.mkdir()  # the package's files alone: a stale build/ of the checkout must not make the wheel
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "roz_pipeline", source / "roz_pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "db" / "migrations", source / "db" / "migrations")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "-w", str(wheels), str(source)], check=True, capture_output=True, timeout=300)
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
    assert "succeeded" in roz("materialize", "--camera", "lobby", "--from", "2026-11-20T14:00",
                              "--to", "2026-11-20T14:01")
    with psycopg.connect(empty_database) as conn:
        assert conn.execute('SELECT "timestamp", frame_count FROM heatmap_minutes').fetchall() == [(T0, 12)]
    assert "up to date" in roz("db", "migrate")
    result = subprocess.run([venv / "bin" / "roz", "db", "--dir", str(tmp_path / "nowhere"), "migrate"], cwd=work,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "does not exist" in result.stderr
