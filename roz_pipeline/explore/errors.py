"""The explorer's error answers: a page (or JSON) saying what is wrong, never a traceback."""

import psycopg
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

NOTHING_PROCESSED = ("this database holds no heatmaps yet (no Roz tables): process some footage first, e.g. "
                     "`roz materialize --camera C --from T --to T`, then reload")


async def error_page(request: Request, exc: HTTPException):
    explorer = request.app.state.explorer
    bare = exc.status_code == 404 and exc.detail == "Not Found"  # Starlette's own: say what was not found
    message = f"Not Found: there is no page {request.url.path}" if bare else exc.detail
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"error": message}, status_code=exc.status_code)
    return explorer.templates.TemplateResponse(request, "error.html", {"status": exc.status_code, "message": message},
                                               status_code=exc.status_code)


async def not_processed_yet(request: Request, exc: psycopg.errors.UndefinedTable):
    """The explorer started before anything was processed (or on a database older than Roz): say what to do."""
    return await error_page(request, HTTPException(404, NOTHING_PROCESSED))


ERROR_PAGES = {HTTPException: error_page, psycopg.errors.UndefinedTable: not_processed_yet}
