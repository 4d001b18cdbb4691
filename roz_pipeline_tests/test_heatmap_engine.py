"""Clip -> heatmap on real encoded video: synthetic clips with known motion, and real recorded footage."""

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from roz_pipeline.clips.synthetic import Walker, write_clip
from roz_pipeline.core import codec
from roz_pipeline.core.codec import decode_intensity
from roz_pipeline.core.heatmap import compute_heatmap
from roz_pipeline.core.motion import MotionSettings, heatmap_shape
from roz_pipeline.core.render import render_heatmap, render_overlay
from roz_pipeline.core.statistics import HeatmapStatistics
from roz_pipeline.core.video import (
    BadDimensionsError,
    EmptyClipError,
    NoFramesError,
    NotAVideoError,
    NoVideoStreamError,
    UnreadableClipError,
)
from roz_pipeline_tests import bad_clips
from roz_pipeline_tests.helpers import SAMPLE_VIDEOS, skip_or_fail

# A person walking left to right along y = 200..264 of a 640x360 frame.
WALKER = Walker(start=(0, 200), end=(600, 200))


def sample_video(name: str) -> Path:
    path = SAMPLE_VIDEOS / name
    if not path.exists():
        skip_or_fail(f"{path} is missing: install Debian's opencv-doc (apt-get install opencv-doc)")
    return path


@pytest.fixture(scope="module")
def walking_clip(tmp_path_factory) -> str:
    return write_clip(tmp_path_factory.mktemp("clips") / "walk.mp4", walkers=(WALKER,), frames=60, noise=3)


def test_hot_pixels_are_where_the_person_walked(walking_clip):
    result = compute_heatmap(walking_clip)

    rows, cols = np.nonzero(result.heatmap)
    assert rows.min() >= 200 // 4 - 1 and rows.max() <= 264 // 4 + 1  # only the walked band, downscaled by 4
    band = result.heatmap[200 // 4 + 2: 264 // 4 - 2, 10:140]
    assert np.count_nonzero(band) / band.size > 0.9  # a continuous trail along the way
    assert result.frame_count == 60 and result.damage is None


def test_static_scene_with_sensor_noise_stays_zero(tmp_path):
    clip = write_clip(tmp_path / "static.mp4", frames=45, noise=4)

    result = compute_heatmap(clip)

    assert result.statistics == HeatmapStatistics(0.0, 0.0, 0)


def test_pixels_inside_ignore_rectangles_stay_zero(walking_clip):
    ignored = (200, 180, 400, 300)  # source pixels across the walker's path

    result = compute_heatmap(walking_clip, ignore=[ignored])

    assert not result.heatmap[180 // 4: 300 // 4, 200 // 4: 400 // 4].any()
    assert result.heatmap[50:66, 10:45].any() and result.heatmap[50:66, 105:145].any()


@pytest.mark.parametrize("levels", [60, -80, 30])
def test_global_brightness_jump_is_not_counted_as_motion(tmp_path, levels):
    clip = write_clip(tmp_path / "lights.mp4", frames=60, noise=2, brightness_jump=(30, levels), walkers=(WALKER,))

    result = compute_heatmap(clip)

    assert result.lighting_changes >= 1
    outside_path = np.delete(result.heatmap, np.s_[200 // 4 - 1: 264 // 4 + 2], axis=0)
    assert not outside_path.any()


@pytest.mark.parametrize("frames", [1, 2, 17, 90])
def test_frame_count_is_exact(tmp_path, frames):
    clip = write_clip(tmp_path / "n.mp4", frames=frames, width=320, height=180)

    assert compute_heatmap(clip).frame_count == frames


@pytest.mark.parametrize(
    ("width", "height", "codec", "pix_fmt", "suffix", "expected"),
    [
        (1920, 1080, "libx264", "yuv420p", "mp4", (270, 480)),
        (1280, 720, "libx264", "yuv420p", "mp4", (180, 320)),
        (768, 576, "libx264", "yuv420p", "mp4", (144, 192)),
        (1366, 768, "libx264", "yuv420p", "mkv", (192, 341)),
        (1281, 721, "ffv1", "gray", "mkv", (180, 320)),
    ],
)
def test_heatmap_size_is_the_source_divided_by_the_factor_rounded_down(
    tmp_path, width, height, codec, pix_fmt, suffix, expected
):
    clip = write_clip(tmp_path / f"size.{suffix}", width=width, height=height, frames=3, codec=codec, pix_fmt=pix_fmt)

    result = compute_heatmap(clip)

    assert result.heatmap.shape == expected == heatmap_shape(width, height, 4)
    assert result.heatmap.dtype == np.float32


@pytest.mark.parametrize(
    ("codec", "suffix"), [("libx264", "mp4"), ("libx265", "mkv"), ("mpeg4", "avi"), ("libx264", "mov"),
                          ("mjpeg", "avi")],
)
def test_containers_and_codecs_give_the_same_motion(tmp_path, codec, suffix):
    pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    clip = write_clip(tmp_path / f"clip.{suffix}", walkers=(WALKER,), frames=30, codec=codec, pix_fmt=pix_fmt)

    result = compute_heatmap(clip)

    assert result.frame_count == 30
    rows = np.nonzero(result.heatmap)[0]
    assert rows.size and rows.min() >= 49 and rows.max() <= 67


def test_fast_mode_map_correlates_with_full_decoding(walking_clip):
    full, fast = compute_heatmap(walking_clip), compute_heatmap(walking_clip, fast=True)

    assert np.corrcoef(full.heatmap.ravel(), fast.heatmap.ravel())[0, 1] >= 0.99


def test_threaded_decoding_gives_the_same_map(walking_clip):
    assert np.array_equal(compute_heatmap(walking_clip, threads=0).heatmap, compute_heatmap(walking_clip).heatmap)


def test_encoded_row_decodes_with_the_seed_snippet(walking_clip):
    result = compute_heatmap(walking_clip)

    stored = decode_intensity(result.encoded(), result.height, result.width)

    assert np.array_equal(stored, result.heatmap)
    assert result.summary()["compressed_bytes"] == len(result.encoded())


# -- real recorded footage ---------------------------------------------------------------------------------------


def test_real_pedestrian_footage_heats_the_walkways_not_the_buildings():
    clip = sample_video("vtest.avi")  # 768x576 street scene with pedestrians, MS-MPEG4

    result = compute_heatmap(clip)

    assert (result.height, result.width) == (144, 192) and result.frame_count == 795 and result.damage is None
    walkway, building_tops = result.heatmap[50:80, 60:180], result.heatmap[0:15, 80:140]
    assert walkway.mean() > 20 * max(building_tops.mean(), 0.01)
    assert 5_000 < result.statistics.nonzero_pixels < 0.8 * result.heatmap.size
    assert len(result.encoded()) < result.heatmap.nbytes / 5


def test_real_footage_rows_are_plain_zlib_smaller_than_the_stdlibs_and_the_stdlib_is_the_fallback(monkeypatch):
    heatmap = compute_heatmap(sample_video("vtest.avi")).heatmap
    raw = heatmap.astype(np.float32).tobytes()
    stdlib_bytes = zlib.compress(raw, codec.ZLIB_LEVEL)

    stored = codec.encode_intensity(heatmap)
    assert zlib.decompress(stored) == raw  # what db/README.md's readers do
    assert len(stored) < 0.9 * len(stdlib_bytes)  # libdeflate's encoder (bench/extract.py measures by how much)

    assert np.array_equal(codec.decode_intensity(stdlib_bytes, *heatmap.shape), heatmap)  # libdeflate reads zlib's

    monkeypatch.setattr(codec, "deflate", None)  # the `deflate` package missing
    assert codec.encode_intensity(heatmap) == stdlib_bytes
    assert np.array_equal(codec.decode_intensity(stored, *heatmap.shape), heatmap)


def test_real_truncated_recording_keeps_its_frames_and_reports_the_damage():
    clip = sample_video("tree.avi")  # its index announces 444 frames; the file holds 68

    result = compute_heatmap(clip)

    assert result.frame_count == 68
    assert result.damage == "decoded 68 of 444 frames the container announces"
    assert result.summary()["damaged"] is True


# -- bad input -----------------------------------------------------------------------------------------------------


def test_zero_byte_file(tmp_path):
    clip = tmp_path / "empty.mp4"
    clip.write_bytes(b"")
    with pytest.raises(EmptyClipError, match=f"{clip}: empty file"):
        compute_heatmap(clip)


def test_text_file_is_not_a_video(tmp_path):
    clip = tmp_path / "notes.mp4"
    clip.write_text("this is not a video\n" * 100)
    with pytest.raises(NotAVideoError, match=f"{clip}: not a video"):
        compute_heatmap(clip)


def test_audio_only_file_has_no_video_stream(tmp_path):
    clip = tmp_path / "audio.mkv"
    bad_clips.audio_only(clip)
    with pytest.raises(NoVideoStreamError, match=f"{clip}: no video stream: streams found: audio"):
        compute_heatmap(clip)


def test_video_stream_whose_frames_all_fail_to_decode(tmp_path):
    clip = tmp_path / "garbage.mkv"
    bad_clips.no_decodable_frames(clip)
    with pytest.raises(NoFramesError, match=f"{clip}: no decodable frames: mpeg4 stream decoded to 0 frames"):
        compute_heatmap(clip)


def test_missing_file_and_directory_are_unreadable(tmp_path):
    with pytest.raises(UnreadableClipError, match="No such file"):
        compute_heatmap(tmp_path / "missing.mp4")
    with pytest.raises(UnreadableClipError, match="not a regular file"):
        compute_heatmap(tmp_path)


def test_permission_denied_is_reported_without_a_traceback(tmp_path, walking_clip):
    clip = tmp_path / "secret.mp4"
    clip.write_bytes(Path(walking_clip).read_bytes())
    clip.chmod(0o000)
    tmp_path.chmod(0o755)
    # Root reads everything: drop to nobody once Python and Roz are loaded (they may live under /root).
    drop = "os.setuid(65534) if os.geteuid() == 0 else None"
    script = f"import os, sys; from roz_pipeline.cli.main import main; {drop}; sys.exit(main(sys.argv[1:]))"

    result = subprocess.run([sys.executable, "-c", script, "heatmap", "compute", str(clip)],
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"roz: {clip}: cannot read the file: Permission denied")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("width", "height"), [(8, 8), (8200, 16)])
def test_absurd_dimensions_are_refused(tmp_path, width, height):
    clip = write_clip(tmp_path / "tiny.mkv", width=width, height=height, frames=2, codec="ffv1", pix_fmt="gray")
    with pytest.raises(BadDimensionsError, match=f"{clip}: unsupported frame size: {width}x{height}"):
        compute_heatmap(clip)


def test_truncated_mp4_with_index_first_keeps_decodable_frames_and_reports_damage(tmp_path):
    truncated = tmp_path / "truncated.mp4"
    bad_clips.truncated(truncated, faststart=True)

    result = compute_heatmap(truncated)

    assert 0 < result.frame_count < 40
    assert result.damage and "of 40 frames" in result.damage


def test_truncated_mp4_without_its_index_is_not_a_video(tmp_path):
    truncated = tmp_path / "cut.mp4"
    bad_clips.truncated(truncated, faststart=False)  # the moov index is written last: it is gone
    with pytest.raises(NotAVideoError, match=f"{truncated}: not a video"):
        compute_heatmap(truncated)


def test_corrupted_packets_are_skipped_and_reported(tmp_path):
    damaged = tmp_path / "damaged.mkv"
    bad_clips.corrupt_packets(damaged, width=640, height=360, walker=WALKER)

    result = compute_heatmap(damaged)

    assert result.damage is not None
    assert result.summary()["damaged"] is True


# -- pictures and the command line ---------------------------------------------------------------------------------


def test_overlay_and_bare_pngs_are_valid_images_of_the_expected_size(walking_clip):
    result = compute_heatmap(walking_clip)

    overlay = cv2.imdecode(np.frombuffer(render_overlay(result.heatmap, result.still), np.uint8), cv2.IMREAD_UNCHANGED)
    bare = cv2.imdecode(np.frombuffer(render_heatmap(result.heatmap), np.uint8), cv2.IMREAD_UNCHANGED)

    assert overlay.shape == (360, 640, 3)  # drawn at the still's size
    assert bare.shape == (270, 480, 4)  # the 160x90 map drawn at the minimum width, 480
    assert bare[10, 10, 3] == 0 and bare[175, 240, 3] > 0  # transparent where nothing moved
    still_colour = cv2.cvtColor(result.still, cv2.COLOR_GRAY2BGR)
    assert np.abs(overlay[10:40].astype(int) - still_colour[10:40]).max() <= 2  # the untouched still shows through


def test_colour_scale_uses_a_high_percentile_not_the_maximum():
    heatmap = np.zeros((90, 160), np.float32)
    heatmap[40:60, 20:120] = 10
    heatmap[5, 5] = 10_000  # one outlier

    image = cv2.imdecode(np.frombuffer(render_heatmap(heatmap, width=160), np.uint8), cv2.IMREAD_UNCHANGED)

    assert image[50, 50, 3] >= 200  # the busy band is drawn at (nearly) full strength, not washed out


def test_compute_command_prints_the_row_as_json_and_writes_the_picture(walking_clip, tmp_path, roz):
    png = tmp_path / "walk.png"

    result = roz("heatmap", "compute", walking_clip, "--downscale", "2", "--png", str(png), "--json")

    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert {"height", "width", "downscale_factor", "frame_count", "total_intensity", "max_intensity",
            "nonzero_pixels", "video_path", "damaged"} <= row.keys()
    assert (row["height"], row["width"], row["frame_count"], row["damaged"]) == (180, 320, 60, False)
    assert cv2.imread(str(png)).shape == (360, 640, 3)


def test_compute_command_on_a_bad_clip_is_one_line_naming_it(tmp_path, roz):
    clip = tmp_path / "bad.mov"
    clip.write_bytes(os.urandom(4096))

    result = roz("heatmap", "compute", str(clip))

    assert result.returncode == 2
    assert result.stderr.startswith(f"roz: {clip}: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ignore_rectangles_must_be_well_formed(walking_clip):
    with pytest.raises(ValueError, match="x0 < x1"):
        compute_heatmap(walking_clip, ignore=[(100, 100, 50, 200)])
    with pytest.raises(ValueError, match="downscale_factor must be >= 1"):
        compute_heatmap(walking_clip, MotionSettings(downscale_factor=0.5))
