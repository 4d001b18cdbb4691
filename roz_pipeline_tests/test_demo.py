"""`roz demo` end to end, as a newcomer runs it: embedded PostgreSQL, generated footage, real Dagster runs."""

import os
import re
import subprocess
import sys
from datetime import date, timedelta

import cv2
import psycopg
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from roz_pipeline.storage.connection import embedded_database_url, running_postmaster
from roz_pipeline_tests.helpers import MIGRATIONS

pytestmark = pytest.mark.slow  # the demo end to end: `./run test -m "not slow"` leaves it out


def test_demo_writes_rows_records_runs_renders_pictures_and_says_where(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ROZ_") and k not in ("DATABASE_URL", "DAGSTER_HOME")}
    env["ROZ_HOME"] = str(tmp_path / "home")

    result = subprocess.run([sys.executable, "-m", "roz_pipeline.cli", "demo"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)

    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for step in ("1/5 Footage", "2/5 Database", "3/5 Dagster", "4/5 Pictures", "5/5 Summary"):
        assert step in out
    assert re.search(r"lobby: 10 rows, [\d.]+ KB per row; busiest minute \d{4}-\d\d-\d\d \d\d:\d\d UTC", out)
    demo = tmp_path / "home" / "demo"  # all the demo's data, apart from the user's
    assert out.splitlines()[-3:] == [
        "    ./run ui --demo        # the Dagster UI: http://127.0.0.1:3000, Assets > heatmap_minutes > lobby: its "
        "runs and checks",
        "    ./run explore --demo   # the heatmaps: http://127.0.0.1:8080, click lobby, drag a rectangle",
        f"    (installed without the repository: cd {demo}, then env -u ROZ_HOME DAGSTER_HOME={demo / 'dagster'} "
        "dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000, or env -u ROZ_HOME roz explore)"]
    day = date.fromisoformat(re.search(r"busiest minute (\d{4}-\d\d-\d\d)", out).group(1))
    # the demo's settings, in its folder: the UI opens on the demo's days, not on weeks of missing hours
    assert (demo / ".env").read_text().splitlines()[1:] == [
        "ROZ_HOME=.", f"ROZ_PARTITIONS_START={day - timedelta(days=1)}", "ROZ_CLIP_LAYOUT=roz"]
    assert sorted(path.name for path in (tmp_path / "home").iterdir()) == ["demo"]
    assert " - DEBUG - " not in result.stderr and "BetaWarning" not in result.stderr  # the demo's own words only
    # its own short lines: no line per migration applied, nothing on stderr
    shipped = len(list(MIGRATIONS.glob("*.sql")))
    assert result.stderr == "" and "Applied 001" not in out and f"{shipped} migration(s) applied" in out

    pictures = sorted((demo / "renders").glob("*.png"))
    assert len(pictures) == 4
    shapes = sorted(cv2.imread(str(p)).shape for p in pictures)
    assert shapes == [(360, 640, 3)] * 2 + [(360 + 30, 640, 3)] * 2  # the summed period has a legend
    instance = DagsterInstance.from_config(str(demo / "dagster"))
    runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
    # per camera, runs of its minutes, hours and days (two of a kind when the demo's ten minutes cross an hour)
    ran = {(run.tags["camera"], key.path[0]) for run in runs for key in run.asset_selection}
    assert ran == {(camera, asset) for camera in ("lobby", "loading-dock")
                   for asset in ("heatmap_minutes", "heatmap_hours", "heatmap_days")}
    assert running_postmaster(demo / "pgdata") is None  # the demo stopped the PostgreSQL it started
    with psycopg.connect(embedded_database_url(demo / "pgdata")) as conn:
        counts = dict(conn.execute("SELECT camera_id, count(*) FROM heatmap_minutes GROUP BY camera_id").fetchall())
        days = dict(conn.execute("SELECT camera_id, sum(minutes_covered) FROM heatmap_daily GROUP BY camera_id"))
    assert counts == {"lobby": 10, "loading-dock": 10}
    assert days == {"lobby": 10, "loading-dock": 10}
    # a demo that looks like a real camera: every minute fully covered, nothing missing, stale or warned about
    checks = [record.event_log_entry.dagster_event.event_specific_data
              for run in runs for record in instance.get_records_for_run(
                  run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records]
    assert {check.check_name for check in checks} == {"fresh", "recent_gaps"}
    assert all(check.passed for check in checks), [(c.asset_key, c.check_name, c.metadata) for c in checks]
    assert "WARNING" not in result.stdout + result.stderr and "partly covered" not in out

    again = subprocess.run([sys.executable, "-m", "roz_pipeline.cli", "demo"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]


def test_demo_never_writes_to_the_database_url_of_the_environment_or_a_copied_env_file(tmp_path, migrated_database):
    from datetime import datetime, timezone

    from roz_pipeline.settings import REPO_ROOT
    from roz_pipeline.storage.minutes import write_minute
    from roz_pipeline_tests.helpers import minute_row

    recent = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=10)
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        write_minute(conn, minute_row("lobby", recent))  # a real camera named like the demo's
        before = conn.execute("SELECT * FROM heatmap_minutes").fetchall()
    (tmp_path / ".env").write_text((REPO_ROOT / "db" / ".env.example").read_text())  # copied as the README says
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "ROZ_CAMERAS_FILE")}
    env |= {"ROZ_HOME": str(tmp_path / "home"), "DATABASE_URL": migrated_database}

    result = subprocess.run([sys.executable, "-m", "roz_pipeline.cli", "demo"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "DATABASE_URL is not used" in result.stdout
    with psycopg.connect(migrated_database) as conn:
        assert conn.execute("SELECT * FROM heatmap_minutes").fetchall() == before
    with psycopg.connect(embedded_database_url(tmp_path / "home" / "demo" / "pgdata")) as conn:
        assert conn.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0] == 20
    assert "DATABASE_URL" not in (tmp_path / "home" / "demo" / ".env").read_text()
