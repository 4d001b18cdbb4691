"""`roz explore` over real HTTP (uvicorn on a free port) on minutes the pipeline wrote from real clips with motion at
known places and minutes; read-only on PostgreSQL's side."""

import html
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from datetime import timedelta

import cv2
import numpy as np
import psycopg
import pytest

from roz_pipeline.clips.s3_store import S3ClipStore
from roz_pipeline.core.render import LEGEND_HEIGHT, render_heatmap
from roz_pipeline.core.timesteps import HOUR
from roz_pipeline.explore import app
from roz_pipeline.explore.app import Explorer
from roz_pipeline.lib.keys import minutes_key
from roz_pipeline.registry import Camera
from roz_pipeline.storage.connection import connect
from roz_pipeline.storage.migrations import Migrator
from roz_pipeline.storage.minutes import HeatmapMinute, write_minute
from roz_pipeline.storage.rollups import Rollup, write_rollup
from roz_pipeline.usecases.explore import standings
from roz_pipeline.usecases.insight import period_heatmap
from roz_pipeline_tests.explorer_site import PERIOD, lobby_and_yard, serving
from roz_pipeline_tests.helpers import (
    MIGRATIONS,
    T0,
    as_role,
    asset_def,
    clip_key,
    free_port,
    local_defs,
    registry_file,
)


@pytest.fixture
def explorer(tmp_path, migrated_database):
    with serving(*lobby_and_yard(tmp_path, migrated_database), migrated_database) as (base, _):
        yield base, migrated_database


def get(url: str, json_answer: bool = False) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"} if json_answer else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def test_the_cameras_page_lists_every_camera_with_its_freshness_and_todays_coverage(explorer):
    base, _ = explorer

    status, kind, body = get(f"{base}/")

    page = body.decode()
    assert status == 200 and kind.startswith("text/html")
    lobby = page[page.index('data-camera="lobby"'):page.index('data-camera="yard"')]
    assert 'class="stale"' in lobby and "2026-11-20 14:03" in lobby  # its newest minute, 27 minutes old
    assert "<td>4 of 870</td>" in lobby  # 4 minutes with footage of the day's 870 so far (UTC)
    assert 'data-camera="yard" class="never_seen"' in page and "never" in page[page.index('data-camera="yard"'):]


def test_a_camera_with_nothing_today_links_to_the_day_of_its_newest_minute(tmp_path, migrated_database):
    """History just processed (yesterday's footage): the camera's link opens a day with its heatmaps, not an empty
    today."""
    with serving(*lobby_and_yard(tmp_path, migrated_database), migrated_database, now=T0 + timedelta(days=2)) as (
            base, _):
        page = get(f"{base}/")[2].decode()

    assert '<a href="/cameras/lobby?from=2026-11-20T00:00&amp;to=2026-11-21T00:00">lobby</a>' in page
    assert '<a href="/cameras/yard">yard</a>' in page  # never seen: today, where its first minutes will be


def test_the_cameras_pages_counts_have_thousands_separators(tmp_path, migrated_database):
    late = T0.replace(hour=23, minute=30)  # 1,410 minutes of the day so far
    with serving(*lobby_and_yard(tmp_path, migrated_database), migrated_database, now=late) as (base, _):
        page = get(f"{base}/")[2].decode()

    lobby = page[page.index('data-camera="lobby"'):page.index('data-camera="yard"')]
    assert "<td>4 of 1,410</td>" in lobby and "<td>1,406</td>" in lobby  # with footage, and missing


def test_a_large_site_is_paged_with_the_troubled_cameras_first(explorer, monkeypatch):
    base, _ = explorer
    monkeypatch.setattr(app, "CAMERAS_PER_PAGE", 1)

    pages = [get(f"{base}/?page={n}") for n in (1, 2)]

    first, second = (html.unescape(body.decode()) for _, _, body in pages)
    assert 'data-camera="lobby" class="stale"' in first and 'data-camera="yard"' not in first
    assert 'data-camera="yard" class="never_seen"' in second and 'data-camera="lobby"' not in second
    assert "2 camera(s): 1 stale, 1 never seen" in first and "Page 1 of 2" in first and 'href="/?page=2"' in first
    assert "Page 2 of 2" in second and 'href="/?page=1"' in second and 'href="/?page=3"' not in second
    assert get(f"{base}/?page=3")[0] == 404 and "page 3 of 2" in get(f"{base}/?page=3")[2].decode()


def test_the_troubled_cameras_come_first_then_by_id(db):
    now = T0 + timedelta(minutes=30)
    for camera, newest in (("a-fresh", now - timedelta(minutes=2)), ("b-fresh", now - timedelta(minutes=1)),
                           ("z-stale", now - timedelta(minutes=20))):
        write_minute(db, HeatmapMinute.of(camera, newest, clip_key(camera, newest), np.ones((9, 16), np.float32), 4,
                                          20))
    cameras = [Camera(camera_id) for camera_id in ("b-fresh", "a-fresh", "m-never", "z-stale")]  # registry order

    found = [(s.camera.camera_id, s.state) for s in standings(db, cameras, now)]

    assert found == [("z-stale", "stale"), ("m-never", "never_seen"), ("a-fresh", "fresh"), ("b-fresh", "fresh")]


def test_the_camera_pages_heatmap_is_the_stored_sum_of_the_period(explorer):
    base, database = explorer

    status, _, page = get(f"{base}/cameras/lobby?{PERIOD}")
    _, kind, over_still = get(f"{base}/cameras/lobby/heatmap.png?{PERIOD}")
    _, _, bare = get(f"{base}/cameras/lobby/heatmap.png?{PERIOD}&still=no")

    assert status == 200 and f'src="/cameras/lobby/heatmap.png?{PERIOD.replace("&", "&amp;")}"' in page.decode()
    with connect(database) as conn:  # the period's rows, decoded as db/README.md tells any reader to
        rows = conn.execute('SELECT intensity_array, height, width FROM heatmap_minutes WHERE camera_id = %s',
                            ("lobby",)).fetchall()
    stored_sum = sum(np.frombuffer(zlib.decompress(b), np.float32).reshape(h, w) for b, h, w in rows)
    expected = cv2.imdecode(np.frombuffer(render_heatmap(stored_sum), np.uint8), cv2.IMREAD_COLOR)
    served = cv2.imdecode(np.frombuffer(bare, np.uint8), cv2.IMREAD_COLOR)
    assert kind == "image/png" and len(rows) == 4
    assert np.array_equal(served[:-LEGEND_HEIGHT], expected)  # the picture, above its legend
    still = cv2.imdecode(np.frombuffer(over_still, np.uint8), cv2.IMREAD_COLOR)
    assert still.shape == served.shape and not np.array_equal(still, served)  # the same map, over the camera's still


def test_the_region_question_lists_exactly_the_minutes_something_moved_there(explorer):
    base, _ = explorer

    status, kind, body = get(f"{base}/cameras/lobby/when?region=door&{PERIOD}", json_answer=True)
    gate = json.loads(get(f"{base}/cameras/lobby/when?region=200,60,320,140&{PERIOD}", json_answer=True)[2])

    answer = json.loads(body)
    assert status == 200 and kind == "application/json"
    assert [(i["start"][11:16], i["end"][11:16]) for i in answer["intervals"]] == [("14:00", "14:02")]
    assert answer["intervals"][0]["open"] == {"clip": clip_key("lobby", T0), "offset_seconds": 0.0}
    assert [(i["start"][11:16], i["end"][11:16]) for i in gate["intervals"]] == [("14:03", "14:04")]
    grid = json.loads(get(f"{base}/cameras/lobby/when?region=0,0,160,160&{PERIOD}", json_answer=True)[2])
    assert grid["read_from"] == "the minute cells"  # a rectangle on the cell grid, as the page snaps them
    assert [(i["start"][11:16], i["end"][11:16]) for i in grid["intervals"]] == [("14:00", "14:02")]


def test_an_answer_lists_the_busiest_intervals_and_counts_the_rest(explorer, monkeypatch):
    base, _ = explorer
    monkeypatch.setattr(app, "LISTED_INTERVALS", 1)

    whole = json.loads(get(f"{base}/cameras/lobby/when?region=0,0,320,180&{PERIOD}", json_answer=True)[2])

    assert whole["interval_count"] == 2 and len(whole["intervals"]) == 1  # the door's two minutes and the gate's
    assert (whole["intervals"][0]["start"][11:16], whole["intervals"][0]["minutes"]) == ("14:00", 2)
    status, kind, clip = get(f"{base}/cameras/lobby/clip?key={clip_key('lobby', T0)}")
    assert status == 200 and clip[4:8] == b"ftyp"  # the clip itself, to play from its offset


def test_a_picture_is_drawn_once_until_a_row_behind_it_changes(tmp_path, migrated_database):
    registry, videos = lobby_and_yard(tmp_path, migrated_database)
    heatmap = f"/cameras/lobby/heatmap.png?{PERIOD}&still=no"
    with serving(registry, videos, migrated_database) as (base, explorer), \
            connect(migrated_database, autocommit=True) as conn:
        first, again = head(base + heatmap), head(base + heatmap)
        drawn = explorer.pictures.drawn
        unchanged = head(base + heatmap, {"If-None-Match": first["etag"]})
        late = np.zeros((45, 80), np.float32)
        late[10:20, 60:70] = 9  # a late clip's minute, processed into the period
        write_minute(conn, HeatmapMinute.of("lobby", T0 + timedelta(minutes=7), clip_key("lobby", T0), late, 4, 20))
        after_late, drawn_after_late = head(base + heatmap), explorer.pictures.drawn
        bars = head(f"{base}/cameras/lobby/activity.png?{PERIOD}")
        rollup = period_heatmap(conn, "lobby", T0, T0 + HOUR)
        write_rollup(conn, Rollup("lobby", "hour", T0, rollup.total, 4, rollup.minutes, 100))
        bars_rolled = head(f"{base}/cameras/lobby/activity.png?{PERIOD}")

    assert first["body"] == again["body"] and first["etag"] == again["etag"] and drawn == 1
    assert unchanged["status"] == 304 and unchanged["body"] == b""
    assert after_late["etag"] != first["etag"] and drawn_after_late == 2
    served = cv2.imdecode(np.frombuffer(after_late["body"], np.uint8), cv2.IMREAD_COLOR)
    expected = cv2.imdecode(np.frombuffer(render_heatmap(rollup.total), np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(served[:-LEGEND_HEIGHT], expected)  # the late minute is in it
    assert bars_rolled["etag"] != bars["etag"] and bars_rolled["body"] != bars["body"]


def head(url: str, headers: dict | None = None) -> dict:
    """Status, ETag and body of a GET."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return {"status": response.status, "etag": response.headers["ETag"], "body": response.read()}
    except urllib.error.HTTPError as error:
        return {"status": error.code, "etag": error.headers["ETag"], "body": error.read()}


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/cameras/nobody", 404, "no camera 'nobody' in the registry"),
    ("/?page=0", 400, "page: expected a page number (1, 2, ...), not '0'"),
    ("/?page=%27%3B--", 400, "page: expected a page number"),
    ("/?page=%C2%B2", 400, "page: expected a page number"),  # a superscript 2: a digit to str.isdigit, not to int
    ("/?page=" + "9" * 10_000, 400, "not '99999999999999999999' (10,000 characters)"),  # more than int() converts
    ("/cameras/lobby/heatmap.png?from=9999-12-31T22:00&to=9999-12-31T23:00", 400, "from: expected a time between"),
    ("/cameras/lobby?from=9999-12-31T12:00-12:00", 400, "from: expected a time like"),  # UTC: past the calendar
    ("/cameras/lobby/week.png?to=0001-01-01T00:00", 400, "to: expected a time between the years 100 and 9899"),
    ("/cameras/..%2F..%2Fetc", 404, "Not Found: there is no page /cameras/../../etc"),
    ("/static/%00", 404, "Not Found: there is no page /static/\x00"),  # Starlette's own refusals say what
    ("/cameras/lobby?from=2026-11-20T15:00&to=2026-11-20T14:00", 400, "to must be after from"),
    ("/cameras/lobby?from=yesterday", 400, "from: expected a time like 2026-11-20T14:00"),
    ("/cameras/lobby/when?region=1,2,3&" + PERIOD, 400, "neither X0,Y0,X1,Y1"),
    ("/cameras/lobby/when?region=10,10,5,5&" + PERIOD, 400, "x0 < x1"),
    ("/cameras/lobby/when?region=320,0,400,100&" + PERIOD, 400, "outside camera lobby's picture (320x180 source"),
    ("/cameras/lobby/when?region=%27%3B%20DROP%20TABLE%20heatmap_minutes&" + PERIOD, 400, "neither X0,Y0,X1,Y1"),
    ("/cameras/lobby/clip?key=..%2F..%2Fetc%2Fpasswd", 400, ""),
    ("/cameras/lobby/clip?key=yard%2F2026-11-20%2F14-00.mp4", 404, "not a clip of camera lobby"),
])
def test_bad_questions_get_a_clear_answer_never_a_traceback(explorer, path, status, says):
    base, _ = explorer

    answered, _, body = get(base + path, json_answer=path.split("?")[0].endswith("/when"))

    text = html.unescape(body.decode())
    assert answered == status and says in text and "Traceback" not in text


def test_the_explorer_works_as_the_reader_role_and_never_writes(tmp_path, database_with_roles):
    Migrator(as_role(database_with_roles, "roz_migrator"), MIGRATIONS).migrate()
    registry, videos = lobby_and_yard(tmp_path, as_role(database_with_roles, "roz_writer"))
    reader = as_role(database_with_roles, "roz_reader")

    with serving(registry, videos, reader) as (base, _):
        pages = [get(f"{base}{path}")[0] for path in ("/", f"/cameras/lobby?{PERIOD}",
                                                      f"/cameras/lobby/heatmap.png?{PERIOD}")]
        answer = json.loads(get(f"{base}/cameras/lobby/when?region=door&{PERIOD}", json_answer=True)[2])

    assert pages == [200, 200, 200] and len(answer["intervals"]) == 1
    with Explorer(reader, {}, None).connection() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("CREATE TEMPORARY TABLE sneaky (id INT)")  # read-only even where the role could write


def test_an_explorer_started_before_anything_was_processed_says_what_to_do(tmp_path, empty_database):
    registry = registry_file(tmp_path, {"lobby": {}})

    with serving(registry, tmp_path / "videos", empty_database) as (base, _):
        answers = [get(f"{base}{path}", json_answer=path.endswith("/when")) for path in (
            "/", f"/cameras/lobby?{PERIOD}", f"/cameras/lobby/heatmap.png?{PERIOD}",
            f"/cameras/lobby/when?region=0,0,80,80&{PERIOD}")]

    for status, _, body in answers:
        assert status == 404 and b"no heatmaps yet" in body and b"roz materialize" in body and b"Traceback" not in body


def test_the_camera_page_and_the_camera_asset_link_to_each_other(explorer, monkeypatch, tmp_path):
    base, database = explorer
    monkeypatch.setenv("ROZ_DAGSTER_URL", "http://dagster.lan:3000/")
    monkeypatch.setenv("ROZ_EXPLORE_URL", "http://roz.lan:8080")

    page = get(f"{base}/cameras/lobby")[2].decode()
    defs = local_defs(tmp_path / "cameras.yaml", tmp_path / "videos", database, grain="minute")

    assert 'href="http://dagster.lan:3000/assets/heatmap_minutes/lobby"' in page
    metadata = asset_def(defs, minutes_key("lobby")).metadata_by_key[minutes_key("lobby")]
    assert metadata["explorer"].value == "http://roz.lan:8080/cameras/lobby"


def test_the_camera_page_says_in_plain_words_why_a_drawn_rectangle_snaps(explorer):
    base, _ = explorer

    page = get(f"{base}/cameras/lobby?{PERIOD}")[2].decode()

    hint = " ".join(html.unescape(re.search(r'<span id="grid">(.*?)</span>', page, re.DOTALL)[1]).split())
    assert 'data-cell="80"' in page and hint == (
        "Rectangles snap to squares of 80 × 80 pixels of the camera's picture: Roz adds up the motion in each square "
        "every minute, so answers come fast.")


def test_a_clip_in_s3_plays_from_a_presigned_url(tmp_path, migrated_database, moto_s3):
    registry, videos = lobby_and_yard(tmp_path, migrated_database)
    s3 = moto_s3.client("s3")
    s3.create_bucket(Bucket="explore")
    key = clip_key("lobby", T0)
    s3.upload_file(str(videos / key), "explore", f"site-a/{key}")

    with serving(registry, videos, migrated_database, S3ClipStore(s3, "explore", "site-a/")) as (base, _):
        with urllib.request.urlopen(f"{base}/cameras/lobby/clip?key={key}", timeout=30) as response:
            played, final = response.read(), response.url

    assert played == (videos / key).read_bytes()
    assert final.startswith(f"{moto_s3.endpoint}/explore/site-a/{key}?") and "Signature=" in final


def test_a_clip_is_served_only_from_inside_the_store_whatever_its_links_say(tmp_path, explorer):
    """Links in the recordings folder (written by whoever writes there) to a secret and to /etc/passwd, through the
    clip's name, its date folder and its camera folder: 404; a link that stays inside plays."""
    base, _ = explorer
    videos, outside = tmp_path / "videos", tmp_path / "outside"
    secret = outside / "yard" / "2026-11-20" / "14-00.mp4"
    secret.parent.mkdir(parents=True)
    secret.write_text("PGPASSWORD=hunter2\n")
    day = videos / "lobby" / "2026-11-20"
    (day / "14-30.mp4").symlink_to(secret)
    (day / "14-31.mp4").symlink_to("/etc/passwd")
    (videos / "lobby" / "2026-11-21").symlink_to(secret.parent)
    (videos / "yard").symlink_to(outside / "yard")
    (day / "14-40.mp4").symlink_to("14-00.mp4")

    answers = {key: get(f"{base}/cameras/{key.split('/')[0]}/clip?key={key}") for key in (
        "lobby/2026-11-20/14-30.mp4", "lobby/2026-11-20/14-31.mp4", "lobby/2026-11-21/14-00.mp4",
        "yard/2026-11-20/14-00.mp4")}
    inside = get(f"{base}/cameras/lobby/clip?key=lobby/2026-11-20/14-40.mp4")

    assert {key: status for key, (status, _, _) in answers.items()} == dict.fromkeys(answers, 404)
    assert not any(b"hunter2" in body or b"root:" in body for _, _, body in answers.values())
    assert inside[0] == 200 and inside[1] == "video/mp4" and inside[2] == (day / "14-00.mp4").read_bytes()


@pytest.mark.parametrize("path", [
    "/", f"/cameras/lobby?{PERIOD}", f"/cameras/lobby/heatmap.png?{PERIOD}", "/static/explore.js",
    "/static/favicon.svg", "/favicon.ico",
    "/cameras/lobby/clip?key=lobby/2026-11-20/14-00.mp4", "/cameras/%3Cimg%20src=x%20onerror=alert(1)%3E",
    f"/cameras/lobby/when?region=%3Cimg%20src=x%20onerror=alert(1)%3E&{PERIOD}", "/nowhere",
])
def test_every_answer_keeps_the_page_to_itself(explorer, path):
    """Only the explorer's own script, style and pictures; no framing; no referrer; types not sniffed (a JSON 404
    echoing markup is never run as HTML)."""
    base, _ = explorer
    request = urllib.request.Request(base + path, headers={"Accept": "application/json"} if "/when" in path else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            headers = response.headers
    except urllib.error.HTTPError as error:
        headers = error.headers

    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert {policy[kind] for kind in ("script-src", "style-src", "img-src")} == {"'self'"}


def test_roz_explore_reads_the_database_it_is_given_and_serves_a_camera_added_while_it_runs(tmp_path,
                                                                                            migrated_database):
    registry, videos = lobby_and_yard(tmp_path, migrated_database)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "ROZ_HOME": str(tmp_path / "home"), "ROZ_CAMERAS_FILE": str(registry), "ROZ_VIDEO_ROOT": str(videos)}
    server = subprocess.Popen([sys.executable, "-m", "roz_pipeline.cli", "explore", "--port", str(port),
                               "--database-url", migrated_database], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while (answer := _try_get(f"{base}/cameras/lobby")) is None:
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()[-3000:]
            time.sleep(0.2)
        before = get(f"{base}/cameras/dock")[0]
        registry.write_text(registry.read_text() + "  dock: {retention_days: 36500}\n")
        after = get(f"{base}/cameras/dock")[0]
        listed = get(f"{base}/")[2].decode()
    finally:
        server.terminate()
        server.wait(30)

    assert answer == 200 and (before, after) == (404, 200) and 'href="/cameras/dock"' in listed
    assert not (tmp_path / "home" / "pgdata").exists()  # the database given, not an embedded one


def _try_get(url: str) -> int | None:
    try:
        return get(url)[0]
    except OSError:
        return None
