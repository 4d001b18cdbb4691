"""Pictures of stored periods, drawn over a still taken from one of the camera's clips."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import psycopg

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.stores import ClipStoreError
from roz_pipeline.core.render import render_difference, render_heatmap, render_overlay
from roz_pipeline.core.video import ClipError, LumaDecoder
from roz_pipeline.usecases.insight import Comparison, PeriodHeatmap, period_heatmap

STILL_SEARCH = timedelta(hours=1)  # the still comes from a clip in the first hour after the period's first minute
LEGEND = "frames moved"


@dataclass(frozen=True)
class PeriodPicture:
    png: bytes
    minutes: int  # minutes summed
    skipped: int  # minutes stored at another heatmap size (downscale factor changed), left out
    still_from: str | None  # the clip the background still came from; None: drawn without a still


def render_period(conn: psycopg.Connection, catalog: ClipCatalog | None, camera_id: str, start: datetime,
                  end: datetime) -> PeriodPicture:
    """The camera's heatmap summed over `start <= t < end`, drawn over a still of one of its clips there.

    Raises LookupError when the period has nothing stored.
    """
    period = period_heatmap(conn, camera_id, start, end)
    still, source = camera_still(catalog, camera_id, period.first_minute)
    return PeriodPicture(render_summed(period, still), period.minutes, period.left_out, source)


def render_summed(period: PeriodHeatmap, still: np.ndarray | None, width: int | None = None) -> bytes:
    """A summed heatmap over a still of the camera (bare without one), with its colour legend. PNG."""
    legend = f"{LEGEND} in {period.minutes} min"
    return (render_overlay(period.total, still, width=width, legend=legend) if still is not None
            else render_heatmap(period.total, width=width, legend=legend))


def render_comparison(catalog: ClipCatalog | None, comparison: Comparison) -> PeriodPicture:
    """Red where the period's average minute was busier than the baseline's, blue where quieter."""
    still, source = camera_still(catalog, comparison.period.camera_id, comparison.period.first_minute)
    png = render_difference(comparison.difference, still, legend="frames moved per minute")
    return PeriodPicture(png, comparison.period.minutes, comparison.period.left_out, source)


def camera_still(catalog: ClipCatalog | None, camera_id: str, around: datetime) -> tuple[np.ndarray | None, str | None]:
    """The first frame of the first readable clip of the camera in the hour from `around`, and where it came from."""
    if catalog is None:
        return None, None
    try:
        clips = catalog.clips_starting([camera_id], around, around + STILL_SEARCH).clips[camera_id]
    except ClipStoreError:
        return None, None
    for clip in clips:
        try:
            with catalog.store.local_file(clip) as path:
                return next(iter(LumaDecoder(path))).luma.copy(), clip.video_path
        except (ClipError, ClipStoreError, StopIteration):
            continue
    return None, None
