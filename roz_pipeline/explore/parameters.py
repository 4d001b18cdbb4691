"""The query parameters the explorer's pages read (times, periods, page numbers), checked: a bad one is a 400 that
says what was expected, never a 500."""

from datetime import datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request

from roz_pipeline.core.timesteps import DAY, LONGEST_PERIOD, MINUTE, floor, parse_utc


def period(request: Request, now: datetime, prefix: str = "") -> tuple[datetime, datetime]:
    """`from` and `to` of the query (default: today so far), checked."""
    start = _time(request, f"{prefix}from", floor(now, DAY))
    end = _time(request, f"{prefix}to", floor(now, MINUTE) + MINUTE)
    if end <= start:
        raise HTTPException(400, f"{prefix}to must be after {prefix}from")
    if end - start > LONGEST_PERIOD:
        raise HTTPException(400, "a period of more than ten years")
    return start, end


def period_query(start: datetime, end: datetime) -> dict[str, str]:
    """The query parameters naming a period, as a link carries them."""
    return {"from": f"{start:%Y-%m-%dT%H:%M}", "to": f"{end:%Y-%m-%dT%H:%M}"}


def _time(request: Request, name: str, default: datetime) -> datetime:
    text = request.query_params.get(name)
    if not text:
        return default
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise HTTPException(400, f"{name}: {exc}") from None


def page_number(request: Request) -> int:
    text = request.query_params.get("page", "1")
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < 1:  # int() refuses 4301 digits
        raise HTTPException(400, f"page: expected a page number (1, 2, ...), not {text[:20]!r}"
                                 f"{f' ({len(text):,} characters)' if len(text) > 20 else ''}")
    return int(text)
