"""One clip -> one minute's heatmap and the statistics `heatmap_minutes` stores."""

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from roz_pipeline.core.codec import encode_intensity
from roz_pipeline.core.motion import MotionAccumulator, MotionSettings, Rectangle
from roz_pipeline.core.statistics import HeatmapStatistics, statistics_of
from roz_pipeline.core.video import LumaDecoder

STILL_MAX_WIDTH = 960  # the kept camera still is at most this wide (pictures are 480-960 pixels wide)


@dataclass(frozen=True)
class ClipHeatmap:
    """A clip's heatmap, its row statistics, and what decoding found."""

    clip: str
    heatmap: np.ndarray  # float32 height x width: frames in which each pixel moved
    downscale_factor: float
    frame_count: int
    source_width: int
    source_height: int
    codec: str
    first_frame_time: float
    last_frame_time: float
    lighting_changes: int  # frames left out as lighting changes
    damage: str | None  # None for a clean decode; otherwise what was skipped (the row keeps the decodable frames)
    still: np.ndarray  # uint8 luma of the first frame, at most STILL_MAX_WIDTH wide

    @property
    def height(self) -> int:
        return self.heatmap.shape[0]

    @property
    def width(self) -> int:
        return self.heatmap.shape[1]

    @property
    def statistics(self) -> HeatmapStatistics:
        return statistics_of(self.heatmap)

    def encoded(self) -> bytes:
        """The `intensity_array` value."""
        return encode_intensity(self.heatmap)

    def summary(self) -> dict:
        """The row's statistics under their column names, plus what a person checking a clip wants to know."""
        return {
            "video_path": self.clip,
            "height": self.height,
            "width": self.width,
            "downscale_factor": self.downscale_factor,
            "frame_count": self.frame_count,
            **dataclasses.asdict(self.statistics),
            "compressed_bytes": len(self.encoded()),
            "source_width": self.source_width,
            "source_height": self.source_height,
            "codec": self.codec,
            "duration_seconds": round(self.last_frame_time - self.first_frame_time, 3),
            "lighting_change_frames": self.lighting_changes,
            "damaged": self.damage is not None,
            "damage": self.damage,
        }


def compute_heatmap(
    clip: str | os.PathLike,
    settings: MotionSettings = MotionSettings(),
    ignore: Sequence[Rectangle] = (),
    *,
    threads: int = 1,
    fast: bool = False,
) -> ClipHeatmap:
    """Decode `clip` and count per-pixel motion. Raises a `ClipError` subclass, naming the clip, for bad input.

    A partly damaged clip keeps its decodable frames and says what was lost in `damage`.
    threads=1 suits many clips in parallel processes; threads=0 lets FFmpeg use every core for one clip.
    """
    # On 270x480 frames OpenCV's worker threads cost more CPU than they save, and they compete with the
    # decoder's threads and with other clips' processes (docs/PERFORMANCE.md).
    cv2.setNumThreads(1)
    decoder = LumaDecoder(clip, threads=threads, fast=fast)
    accumulator = still = None
    first_time = last_time = 0.0
    for frame in decoder:
        if accumulator is None:
            accumulator = MotionAccumulator(frame.luma.shape[1], frame.luma.shape[0], settings, ignore)
            still = _still(frame.luma)
            first_time = frame.time
        accumulator.add(frame.luma)
        last_time = frame.time
    report = decoder.report
    return ClipHeatmap(
        clip=str(clip),
        heatmap=accumulator.heatmap(),
        downscale_factor=float(settings.downscale_factor),
        frame_count=accumulator.frames,
        source_width=report.width,
        source_height=report.height,
        codec=report.codec,
        first_frame_time=first_time,
        last_frame_time=last_time,
        lighting_changes=accumulator.lighting_changes,
        damage=report.damage,
        still=still,
    )


def _still(luma: np.ndarray) -> np.ndarray:
    height, width = luma.shape
    if width <= STILL_MAX_WIDTH:
        return luma.copy()
    return cv2.resize(luma, (STILL_MAX_WIDTH, round(height * STILL_MAX_WIDTH / width)), interpolation=cv2.INTER_AREA)
