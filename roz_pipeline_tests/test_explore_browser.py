"""The explorer in a real browser: Debian's chromium driven by playwright (no browser download), over the lobby's
minutes with motion at known places (explorer_site). With ROZ_UPDATE_SCREENSHOTS=1 the camera page's
screenshot is written to docs/images/ for the README."""

import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import psycopg
import pytest

from roz_pipeline.explore import app
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.minutes import HeatmapMinute, write_minute
from roz_pipeline_tests.explorer_site import PERIOD, lobby_and_yard, serving
from roz_pipeline_tests.helpers import T0, clip_key, skip_or_fail

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOOR = (0, 60, 100, 140)  # source pixels: where the lobby's walker crossed at 14:00 and 14:01
SCREENSHOT = REPO_ROOT / "docs" / "images" / "explore-camera.png"


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        skip_or_fail("Debian's chromium is needed for the browser tests (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is needed for the browser tests (pip install playwright)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def site(tmp_path, migrated_database):
    with serving(*lobby_and_yard(tmp_path, migrated_database), migrated_database) as (base, _):
        yield base


DRAWN_WIDTH = "async (url) => { const picture = new Image(); picture.src = url; await picture.decode(); " \
              "return picture.naturalWidth; }"  # rejects when the picture is refused or does not load


def wait_until(page, expression: str, seconds: float = 30) -> None:
    """Poll `expression` in the page until it is true. Playwright's wait_for_function evaluates its predicate with
    eval, which the explorer's Content-Security-Policy refuses, as it should."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"{expression} still false after {seconds:g} s"
        time.sleep(0.05)


def intervals(page) -> list[tuple[str, str]]:
    page.wait_for_selector("#intervals li")
    return [(item.get_attribute("data-start")[11:16], item.get_attribute("data-end")[11:16])
            for item in page.query_selector_all("#intervals li.interval")]


def test_the_cameras_page_lists_the_registrys_cameras_with_their_freshness(chromium, site):
    page = chromium.new_page()
    page.goto(f"{site}/")

    states = {row.get_attribute("data-camera"): row.query_selector(".state").inner_text()
              for row in page.query_selector_all("#cameras tbody tr")}

    assert states == {"lobby": "stale", "yard": "never seen"}
    page.click("text=lobby")
    assert page.url.startswith(f"{site}/cameras/lobby")


def test_drawing_a_rectangle_lists_exactly_the_minutes_something_moved_there_and_the_url_shares_it(chromium, site,
                                                                                                      tmp_path):
    page = chromium.new_page(viewport={"width": 1000, "height": 1400})
    refused = []  # what the page's own Content-Security-Policy blocks: nothing the explorer needs
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    failed = []  # every request the page makes answers, the browser's own /favicon.ico too
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on("response", lambda response: failed.append(f"{response.url}: {response.status}")
            if response.status >= 400 else None)
    page.goto(f"{site}/cameras/lobby?{PERIOD}")
    wait_until(page, "document.getElementById('heatmap').complete")
    box = page.query_selector("#heatmap").bounding_box()
    size = page.evaluate("[heatmap.naturalWidth, heatmap.naturalHeight]")
    scale_x, scale_y = box["width"] / 320, (box["height"] * (size[1] - 30) / size[1]) / 180  # 320x180 clips

    page.mouse.move(box["x"] + DOOR[0] * scale_x + 1, box["y"] + DOOR[1] * scale_y)
    page.mouse.down()
    page.mouse.move(box["x"] + DOOR[2] * scale_x, box["y"] + DOOR[3] * scale_y, steps=5)
    page.mouse.up()

    assert intervals(page) == [("14:00", "14:02")]
    assert page.inner_text("#asked") == "(0,0)-(160,160)"
    listed = page.inner_text("#intervals li.interval")  # thousands separated, never 3.7e+03
    assert re.match(r"2026-11-20 14:00 – 14:02 UTC, 2 min, activity \d{1,3}(,\d{3})+(\.\d)? watch ", listed), listed
    asked = parse_qs(urlsplit(page.url).query)["region"][0]
    assert asked == "0,0,160,160"  # the drawn box grown to the cell grid's lines (80 source pixels at factor 4)
    assert page.query_selector("#intervals a.clip").get_attribute("href").endswith("#t=0")
    page.screenshot(path=str(tmp_path / "camera.png"), full_page=True)
    if os.environ.get("ROZ_UPDATE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "camera.png", SCREENSHOT)

    shared = chromium.new_page()
    shared.goto(page.url)  # the address, sent to someone else
    assert intervals(shared) == [("14:00", "14:02")]
    # Headless chromium asks for no icon itself: draw the one the page links, and /favicon.ico (what a browser asks
    # for on a page that links none, a picture or an answer opened on its own), as a tab would.
    icon = page.evaluate("document.querySelector('link[rel=icon]')?.href")
    for url in (icon, f"{site}/favicon.ico"):
        assert page.evaluate(DRAWN_WIDTH, url) > 0, url
    page.wait_for_load_state("networkidle")
    assert refused == [] and failed == []


def test_a_long_answer_lists_the_busiest_intervals_and_says_how_many_more(chromium, site, monkeypatch):
    monkeypatch.setattr(app, "LISTED_INTERVALS", 1)
    page = chromium.new_page()

    page.goto(f"{site}/cameras/lobby?{PERIOD}&region=0,0,320,180")  # the whole picture: the door's and the gate's

    assert intervals(page) == [("14:00", "14:02")]
    assert page.inner_text("#intervals li.more") == "and 1 quieter interval(s): ask about a shorter period to see them"


def test_an_answers_numbers_have_thousands_separators_never_e_notation(chromium, site):
    """A real answer with its numbers made large (a day-long interval, thousands more): the page prints them as
    people read them."""
    def large(route):
        response = route.fetch()
        answer = response.json()
        answer["intervals"][0].update(minutes=1440, activity=31_800.46)
        answer["interval_count"] = 5002  # two listed
        route.fulfill(response=response, json=answer)

    page = chromium.new_page()
    page.route("**/when?*", large)
    page.goto(f"{site}/cameras/lobby?{PERIOD}&region=0,0,320,180")
    page.wait_for_selector("#intervals li.more")

    listed = page.inner_text("#intervals")
    assert "UTC, 1,440 min, activity 31,800.5 " in listed and "and 5,000 quieter interval(s)" in listed, listed
    assert not re.search(r"\de[+-]\d", page.inner_text("body"))


def test_a_hostile_camera_id_or_range_gives_the_error_page(chromium, site):
    page = chromium.new_page()

    response = page.goto(f"{site}/cameras/%27%3B%20DROP%20TABLE%20heatmap_minutes")
    assert response.status == 404 and "no camera" in page.inner_text("#message")
    response = page.goto(f"{site}/cameras/lobby?from=2026-11-20T15:00&to=2026-11-20T14:00")
    assert response.status == 400 and page.inner_text("#message") == "to must be after from"


def test_the_cameras_page_draws_only_the_thumbnails_in_view(chromium, tmp_path, migrated_database, monkeypatch):
    """With many cameras, opening the page asks for the pictures of the rows in view, not one per camera."""
    monkeypatch.setattr(app, "CAMERAS_PER_PAGE", 100)
    registry, videos = lobby_and_yard(tmp_path, migrated_database)
    many = [f"cam-{i:03d}" for i in range(100)]  # a page of 100 rows: ~10,000 px
    registry.write_text(registry.read_text() + "".join(f"  {camera}: {{retention_days: 36500}}\n" for camera in many))
    with psycopg.connect(migrated_database) as conn:
        for camera in many:
            write_minute(conn, HeatmapMinute.of(camera, T0, clip_key(camera, T0), np.ones((45, 80), np.float32), 4, 20))
    with serving(registry, videos, migrated_database) as (base, _):
        page = chromium.new_page(viewport={"width": 1280, "height": 720})
        asked = []
        page.on("request", lambda request: asked.append(urlsplit(request.url).path))
        page.goto(f"{base}/")
        page.wait_for_load_state("networkidle")
        in_view = [path for path in asked if path.endswith("/heatmap.png")]
        listed = [row.get_attribute("data-camera") for row in page.query_selector_all("#cameras tbody tr")]

        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_load_state("networkidle")
        wait_until(page, "[...document.images].pop().complete")

    thumbnails = [f"/cameras/{camera}/heatmap.png" for camera in listed]
    assert len(listed) == app.CAMERAS_PER_PAGE and thumbnails[0] in in_view and len(in_view) < len(listed) / 2
    assert thumbnails[-1] not in in_view and thumbnails[-1] in asked
