"""`roz heatmap render`: stored minutes summed over a period, drawn over a still of the camera's clip."""

from datetime import timedelta

import cv2
import numpy as np
import psycopg

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.core.render import legend_number
from roz_pipeline.registry import Camera
from roz_pipeline.usecases.processing import process_window
from roz_pipeline_tests.helpers import T0, make_clip


def _render(roz, database_url: str, video_root, out, start: str, end: str):
    env = {"DATABASE_URL": database_url, "ROZ_VIDEO_ROOT": str(video_root)}
    return roz("heatmap", "render", "--camera", "lobby", "--from", start, "--to", end, "--out", str(out), env=env)


def test_render_sums_the_period_over_a_still_and_falls_back_without_clips(migrated_database, tmp_path, roz):
    videos = tmp_path / "videos"
    for i in range(3):
        make_clip(videos, "lobby", T0 + timedelta(minutes=i), seed=i)
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        catalog = ClipCatalog(LocalClipStore(videos), ClipLayout.from_setting("roz"), [Camera("lobby")])
        report = process_window(Camera("lobby"), catalog, conn, T0, T0 + timedelta(minutes=3))
    assert len(report.written) == 3
    out = tmp_path / "period.png"

    result = _render(roz, migrated_database, videos, out, "2026-11-20T14:00", "2026-11-20T14:03")

    assert result.returncode == 0, result.stderr
    assert "3 minute(s) of lobby summed, over a still of" in result.stdout
    image = cv2.imread(str(out))
    assert image.shape == (270 + 30, 480, 3)  # the 320x180 clips' still at the minimum width, and the legend
    assert np.ptp(image[:, :, 0].astype(int) - image[:, :, 2].astype(int)) > 50  # coloured where people walked

    for clip in videos.rglob("*.mp4"):
        clip.unlink()
    bare = _render(roz, migrated_database, videos, out, "2026-11-20T14:00", "2026-11-20T14:03")
    assert bare.returncode == 0 and "without a still" in bare.stdout
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape[2] == 4

    empty = _render(roz, migrated_database, videos, out, "2026-11-21T00:00", "2026-11-21T01:00")
    assert empty.returncode == 1 and "has nothing stored between" in empty.stderr


def test_the_numbers_a_picture_prints_have_three_digits_and_thousands_separators_never_e_notation():
    """The colour legends and the bar charts' scale: 31,800, not 3.18e+04."""
    numbers = [31_800.4, 1_234_567.0, 999.6, 2.5, 1.0, 0.0123, 0.000012345, 0.0, -31_800.0]
    assert [legend_number(value) for value in numbers] == [
        "31,800", "1,230,000", "1,000", "2.5", "1", "0.0123", "0.0000123", "0", "-31,800"]
