"""`roz explore`: a read-only web page over the heatmap database, to look at a camera's heatmaps and ask "when did
something move here" by drawing on the picture.

Starlette (with uvicorn, both already installed with Dagster's webserver): small, well kept, Jinja2 templates and
static files without a build step; the page's script is a plain module served as is. Handlers are plain functions,
which Starlette runs in its thread pool, so a long question does not hold up the pictures. Every request opens its
own connection, reads, and closes it: the app never writes, so the reader role of db/roles.sql is enough. Pictures
are kept by their inputs (explore/cache.py).
"""

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from roz_pipeline import settings
from roz_pipeline.clips.access import Clips
from roz_pipeline.clips.layout import LayoutError
from roz_pipeline.clips.stores import ClipStoreError
from roz_pipeline.core.cells import CELL_PIXELS
from roz_pipeline.core.render import render_bars, render_week
from roz_pipeline.core.timesteps import DAY, HOUR, MINUTE, STEPS, floor, steps
from roz_pipeline.explore.cache import PICTURES_KEPT, PictureCache
from roz_pipeline.explore.errors import ERROR_PAGES
from roz_pipeline.explore.parameters import page_number, period, period_query
from roz_pipeline.explore.security import HeldFileResponse, SecurityHeaders
from roz_pipeline.registry import Camera, WatchedRegistry
from roz_pipeline.storage.connection import connect
from roz_pipeline.storage.minutes import source_size
from roz_pipeline.usecases.explore import TROUBLE_FIRST, cameras_today, standings
from roz_pipeline.usecases.insight import (
    activity_timeline,
    compare_periods,
    digest,
    period_inputs,
    rollup_inputs,
    week_pattern,
    week_span,
)
from roz_pipeline.usecases.pictures import render_comparison, render_period
from roz_pipeline.usecases.regions import answer_document, region_question

HERE = Path(__file__).resolve().parent
PRESETS = {"last hour": HOUR, "today": None, "last 7 days": timedelta(days=7)}
CAMERAS_PER_PAGE = 50  # the troubled first; coverage is read for the page's cameras only
LISTED_INTERVALS = 50  # the busiest intervals of an answer, each with its picture; the page says how many more
REVALIDATE = "private, no-cache"  # the browser asks again each time and gets a 304 while the rows are unchanged


class Explorer:
    """The app's state: the database, the registry's cameras, the clip store."""

    def __init__(self, database_url: str, cameras: "dict[str, Camera] | WatchedRegistry", clips: Clips, clock=None,
                 pictures_kept: int = PICTURES_KEPT):
        self.database_url, self.registry, self.clips = database_url, cameras, clips
        self.now = clock or (lambda: datetime.now(timezone.utc))
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["thousands"] = "{:,}".format  # 1,440: every number a page shows
        self.pictures = PictureCache(pictures_kept)

    @property
    def cameras(self) -> dict[str, Camera]:
        """The registry's cameras as they are now (a watched registry file is read again when it changes)."""
        return self.registry.cameras() if isinstance(self.registry, WatchedRegistry) else self.registry

    def connection(self) -> psycopg.Connection:
        """A connection on which PostgreSQL itself refuses any write (on top of the reader role, where used)."""
        return connect(self.database_url, autocommit=True, options="-c default_transaction_read_only=on")

    def png(self, request: Request, inputs: str, draw) -> Response:
        """The picture `draw()` renders for this request from rows whose digest is `inputs`: drawn once while they
        stay the same, and not sent again to a browser that has it."""
        tag = f'"{digest([request.url.path, sorted(request.query_params.multi_items()), inputs])}"'
        headers = {"Cache-Control": REVALIDATE, "ETag": tag}
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers=headers)
        return Response(self.pictures.picture((tag,), draw), media_type="image/png", headers=headers)

    def camera(self, request: Request) -> Camera:
        camera = self.cameras.get(request.path_params["camera_id"])
        if camera is None:
            raise HTTPException(404, f"no camera {request.path_params['camera_id']!r} in the registry")
        return camera

    def period(self, request: Request, prefix: str = "") -> tuple[datetime, datetime]:
        """`from` and `to` of the query (default: today so far), checked."""
        return period(request, self.now(), prefix)


def cameras_page(request: Request):
    explorer: Explorer = request.app.state.explorer
    now = explorer.now()
    page = page_number(request)
    with explorer.connection() as conn:
        everyone = standings(conn, list(explorer.cameras.values()), now)
        pages = max(1, -(-len(everyone) // CAMERAS_PER_PAGE))
        if page > pages:
            raise HTTPException(404, f"page {page:,} of {pages:,}: there are {len(everyone):,} cameras")
        shown = everyone[(page - 1) * CAMERAS_PER_PAGE:page * CAMERAS_PER_PAGE]
        try:
            inventory = explorer.clips.inventory(conn, [s.camera for s in shown])
            waiting = {s.camera.camera_id: inventory.waiting_minutes(s.camera.camera_id, floor(now, DAY), now,
                                                                      look=False) for s in shown}
        except psycopg.errors.UndefinedTable:  # no clip inventory yet: nothing is known to wait
            waiting = {}
        rows = cameras_today(conn, shown, waiting, now)
    states = Counter(s.state for s in everyone)
    return explorer.templates.TemplateResponse(request, "cameras.html", {
        "rows": rows, "now": now, "page": page, "pages": pages, "cameras": len(everyone),
        "links": {s.camera.camera_id: _camera_link(s.camera.camera_id, s.newest_minute, now) for s in shown},
        "states": [(state.replace("_", " "), states[state]) for state in TROUBLE_FIRST if states[state]]})


def _camera_link(camera_id: str, newest_minute: datetime | None, now: datetime) -> str:
    """A camera's page: today, or the day of its newest minute when it stored none today (history just processed)."""
    day = floor(newest_minute, DAY) if newest_minute and newest_minute < floor(now, DAY) else None
    return f"/cameras/{camera_id}" + (f"?{urlencode(period_query(day, day + DAY), safe=':')}" if day else "")


def camera_page(request: Request):
    explorer: Explorer = request.app.state.explorer
    camera = explorer.camera(request)
    start, end = explorer.period(request)
    now = explorer.now()
    presets = {name: period_query(now - span if span else floor(now, DAY), floor(now, MINUTE) + MINUTE)
               for name, span in PRESETS.items()}
    dagster = settings.dagster_url()
    with explorer.connection() as conn:
        width, height, factor = source_size(conn, camera.camera_id) or (0, 0, 1)
    return explorer.templates.TemplateResponse(request, "camera.html", {
        "source_width": width, "source_height": height, "cell": round(CELL_PIXELS * factor),
        "camera": camera, "start": start, "end": end, "period": period_query(start, end), "presets": presets,
        "region": request.query_params.get("region", ""), "by": _bar_grain(start, end),
        "dagster": f"{dagster.rstrip('/')}/assets/heatmap_minutes/{camera.camera_id}" if dagster else None,
        "regions": camera.regions})


def heatmap_png(request: Request):
    explorer: Explorer = request.app.state.explorer
    camera = explorer.camera(request)
    start, end = explorer.period(request)
    still = request.query_params.get("still") != "no"
    with explorer.connection() as conn:
        def draw() -> bytes:
            catalog = explorer.clips.catalog([camera]) if still else None
            return render_period(conn, catalog, camera.camera_id, start, end).png

        return explorer.png(request, period_inputs(conn, camera.camera_id, start, end), _found(draw))


def compare_png(request: Request):
    explorer: Explorer = request.app.state.explorer
    camera = explorer.camera(request)
    period, baseline = explorer.period(request), explorer.period(request, "baseline_")
    with explorer.connection() as conn:
        def draw() -> bytes:
            try:
                comparison = compare_periods(conn, camera.camera_id, baseline, period)
            except ValueError as exc:  # the downscale factor changed between the two
                raise HTTPException(400, str(exc)) from None
            return render_comparison(explorer.clips.catalog([camera]), comparison).png

        inputs = [period_inputs(conn, camera.camera_id, *span) for span in (period, baseline)]
        return explorer.png(request, digest(inputs), _found(draw))


def activity_png(request: Request):
    """The period's activity per minute, a bar per hour (up to two days) or per day, from the rollups."""
    explorer: Explorer = request.app.state.explorer
    camera = explorer.camera(request)
    start, end = explorer.period(request)
    grain = _bar_grain(start, end)
    periods = steps(start, end, STEPS[grain])
    with explorer.connection() as conn:
        def draw() -> bytes:
            rolled = {r.period_start: r for r in activity_timeline(conn, camera.camera_id, periods[0], end, grain)}
            values = [rolled[p].total_intensity / rolled[p].minutes_covered if p in rolled else float("nan")
                      for p in periods]
            every = max(1, len(periods) // 8)
            labels = {i: f"{p:%H}" if grain == "hour" else f"{p:%m-%d}" for i, p in enumerate(periods)
                      if i % every == 0}
            return render_bars(values, labels)

        return explorer.png(request, rollup_inputs(conn, camera.camera_id, grain, periods[0], end), draw)


def week_png(request: Request):
    explorer: Explorer = request.app.state.explorer
    camera = explorer.camera(request)
    _, end = explorer.period(request)
    with explorer.connection() as conn:
        def draw() -> bytes:
            return render_week(week_pattern(conn, camera.camera_id, end).per_minute)

        return explorer.png(request, rollup_inputs(conn, camera.camera_id, "hour", *week_span(end)), draw)


def _found(draw):
    """`draw`, with "nothing stored there" answered as a 404."""
    def drawn() -> bytes:
        try:
            return draw()
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
    return drawn


def when_answer(request: Request):
    """The region question: JSON for `Accept: application/json`, else the camera page with the question in it."""
    explorer: Explorer = request.app.state.explorer
    camera = explorer.camera(request)
    start, end = explorer.period(request)
    region = request.query_params.get("region", "")
    if "application/json" not in request.headers.get("accept", ""):
        query = urlencode({**period_query(start, end), "region": region})
        return RedirectResponse(f"/cameras/{camera.camera_id}?{query}")
    with explorer.connection() as conn:
        try:
            answer, found = region_question(conn, camera, region, start, end, explorer.clips.layout,
                                            limit=LISTED_INTERVALS)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
    return JSONResponse(answer_document(answer, found, start, end, 0.0))


def clip_file(request: Request):
    """A clip to play from the store: the file of a local folder, or a presigned S3 URL; only keys of this camera
    that the layout accepts."""
    explorer: Explorer = request.app.state.explorer
    camera = explorer.camera(request)
    key = request.query_params.get("key", "")
    try:
        found = explorer.clips.catalog([camera]).clip_of(key)
    except LayoutError as exc:
        raise HTTPException(400, str(exc)) from None
    if found is None or found.camera_id != camera.camera_id:
        raise HTTPException(404, f"{key!r} is not a clip of camera {camera.camera_id}")
    try:
        playable = explorer.clips.store.playable(found.key)
    except ClipStoreError:
        raise HTTPException(404, f"{key} is not in the store") from None
    if playable.url is not None:
        return RedirectResponse(playable.url)
    return HeldFileResponse(playable.descriptor, playable.path, found.key)


def _bar_grain(start: datetime, end: datetime) -> str:
    """A bar per hour up to two days, per day beyond."""
    return "hour" if end - start <= 2 * DAY else "day"


def create_app(explorer: Explorer) -> Starlette:
    camera = "/cameras/{camera_id}"
    app = Starlette(routes=[
        Route("/", cameras_page),
        Route(camera, camera_page),
        Route(f"{camera}/heatmap.png", heatmap_png),
        Route(f"{camera}/compare.png", compare_png),
        Route(f"{camera}/activity.png", activity_png),
        Route(f"{camera}/week.png", week_png),
        Route(f"{camera}/when", when_answer),
        Route(f"{camera}/clip", clip_file),
        Route("/favicon.ico", lambda request: FileResponse(HERE / "static" / "favicon.svg")),  # asked unlinked
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ], exception_handlers=ERROR_PAGES,
        middleware=[Middleware(SecurityHeaders)])
    app.state.explorer = explorer
    return app
