"""Footage as real recorders leave it: one recording encoded with keyframes every second, then cut by ffmpeg's
segment muxer (`-c copy`, as Frigate and do-it-yourself recorders do) into clips named by a layout."""

import csv
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import imageio_ffmpeg

from roz_pipeline.clips.synthetic import Walker, write_clip

FPS = 10
SIZE = (320, 180)


def walkers(frames: int) -> tuple[Walker, ...]:
    """People crossing the frame at different times, across segment and minute boundaries."""
    return tuple(Walker(start=(0, 40 + 50 * (i % 3)), end=(300, 60 + 40 * (i % 3)), size=(16, 40),
                        first_frame=first, last_frame=min(frames - 1, first + 180))
                 for i, first in enumerate(range(0, frames, 150)))


def record(path: Path, seconds: float, seed: int = 0, moving: tuple[Walker, ...] | None = None) -> Path:
    """`seconds` of 320x180 H.264 at 10 fps with a keyframe every second, so cuts land on whole seconds."""
    frames = round(seconds * FPS)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_clip(path, width=SIZE[0], height=SIZE[1], fps=FPS, frames=frames, seed=seed,
               walkers=walkers(frames) if moving is None else moving,
               options={"g": str(FPS), "keyint_min": str(FPS), "sc_threshold": "0"})
    return path


def cut(recording: Path, start: datetime, segment_seconds: int, name) -> list[tuple[Path, datetime]]:
    """Cut `recording` (recorded from `start`) with ffmpeg's segment muxer; `name(segment_start)` gives each
    segment's path. Returns (path, start) of every segment, in order."""
    folder = recording.parent / f"{recording.stem}-segments"
    folder.mkdir(exist_ok=True)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(recording), "-c", "copy",
                    "-f", "segment", "-segment_time", str(segment_seconds), "-reset_timestamps", "1",
                    "-segment_list", str(folder / "list.csv"), "-segment_list_type", "csv",
                    str(folder / "%03d.mp4")], check=True, capture_output=True, timeout=120)
    segments = []
    for filename, offset, _ in csv.reader((folder / "list.csv").read_text().splitlines()):
        segment_start = start + timedelta(seconds=float(offset))
        target = name(segment_start)
        target.parent.mkdir(parents=True, exist_ok=True)
        (folder / filename).rename(target)
        segments.append((target, segment_start))
    return segments


def frigate_name(root: Path, camera: str = "Front_Door"):
    """Names segments as Frigate does under `recordings/` (UTC): `2026-11-20/14/Front_Door/00.10.mp4`."""
    return lambda start: root / f"{start:%Y-%m-%d/%H}/{camera}/{start:%M.%S}.mp4"


def as_a_camera_sends_it(source: Path, path: Path) -> Path:
    """`source` re-encoded to H.264 with a keyframe every second (10 fps footage such as OpenCV's vtest.avi), as an
    IP camera streams it, so that the segment muxer cuts on whole seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(source), "-c:v", "libx264",
                    "-g", str(FPS), "-keyint_min", str(FPS), "-sc_threshold", "0", "-pix_fmt", "yuv420p", str(path)],
                   check=True, capture_output=True, timeout=300)
    return path
