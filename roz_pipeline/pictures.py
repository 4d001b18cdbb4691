"""Pictures of stored periods: a camera's minutes summed, drawn over a still taken from one of its clips."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import psycopg

from roz_pipeline.clips.layout import ClipRef
from roz_pipeline.clips.stores import ClipStoreError
from roz_pipeline.core.render import render_heatmap, render_overlay
from roz_pipeline.core.video import ClipError, LumaDecoder
from roz_pipeline.storage.heatmaps import minutes_between


STILL_CANDIDATES = 60  # the still comes from one of the period's first hour of stored minutes


@dataclass(frozen=True)
class PeriodPicture:
    png: bytes
    minutes: int  # minutes summed
    skipped: int  # minutes stored at another heatmap size (downscale factor changed), left out
    still_from: str | None  # the clip the background still came from; None: drawn without a still


def render_period(conn: psycopg.Connection, store, camera_id: str, start: datetime, end: datetime) -> PeriodPicture:
    """The camera's stored minutes `start <= t < end` summed and drawn over a still of its first clip there.

    Raises LookupError when the period has no stored minute.
    """
    stored = minutes_between(conn, camera_id, start, end)
    if not stored:
        raise LookupError(f"camera {camera_id} has no stored minute between {start:%Y-%m-%d %H:%M} and "
                          f"{end:%Y-%m-%d %H:%M} UTC")
    shape = Counter(m.heatmap.shape for m in stored).most_common(1)[0][0]
    same_size = [m for m in stored if m.heatmap.shape == shape]
    total = np.sum([m.heatmap for m in same_size], axis=0, dtype=np.float32)
    still, source = _still(store, camera_id, [m.timestamp for m in same_size])
    png = render_overlay(total, still) if still is not None else render_heatmap(total)
    return PeriodPicture(png, len(same_size), len(stored) - len(same_size), source)


def _still(store, camera_id: str, minutes: list[datetime]) -> tuple[np.ndarray | None, str | None]:
    """The first frame of the first of these minutes' clips that can still be read."""
    if store is None:
        return None, None
    candidates = minutes[:STILL_CANDIDATES]
    try:
        listing = store.clips_between(camera_id, candidates[0], candidates[-1] + timedelta(minutes=1))
    except ClipStoreError:
        return None, None
    clips: dict[datetime, ClipRef] = {c.minute: c for c in listing.clips}
    for minute in candidates:
        clip = clips.get(minute)
        if clip is None:
            continue
        try:
            with store.local_file(clip) as path:
                return next(iter(LumaDecoder(path))).luma.copy(), clip.location
        except (ClipError, ClipStoreError):
            continue
    return None, None
