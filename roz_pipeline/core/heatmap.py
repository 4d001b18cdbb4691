"""One clip on its own -> its heatmap and the statistics a `heatmap_minutes` row carries (`roz heatmap compute`)."""

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from roz_pipeline.core.aggregate import sum_heatmaps
from roz_pipeline.core.codec import encode_intensity
from roz_pipeline.core.gate import gate_for, sum_decoded
from roz_pipeline.core.minutes import MinuteHeatmaps
from roz_pipeline.core.motion import MotionSettings, Rectangle
from roz_pipeline.core.statistics import HeatmapStatistics, statistics_of
from roz_pipeline.core.video import LumaDecoder

# A clip read on its own has no wall-clock time: its frames are placed from this minute boundary.
CLIP_ORIGIN = datetime(2000, 1, 1, tzinfo=timezone.utc)
LONGEST_CLIP = timedelta(days=366)


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
    still: np.ndarray  # uint8 luma of the first decoded frame, at most STILL_MAX_WIDTH wide (core.minutes)
    decode: str = "full"  # core.gate.DECODE_MODES
    decoded: dict[str, int] = dataclasses.field(default_factory=dict)  # frames decoded, by why
    decoded_full: str | None = None  # with decode "gated": why the clip was decoded fully regardless

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
            "decode": self.decode,
            "frames_decoded": sum(self.decoded.values()),
            "frames_decoded_share": round(sum(self.decoded.values()) / self.frame_count, 4) if self.frame_count else 0,
            "frames_decoded_because": self.decoded,
            "decoded_full_because": self.decoded_full,
        }


def compute_heatmap(
    clip: str | os.PathLike,
    settings: MotionSettings = MotionSettings(),
    ignore: Sequence[Rectangle] = (),
    *,
    threads: int = 1,
    fast: bool = False,
    decode: str = "full",
) -> ClipHeatmap:
    """Decode `clip` and count per-pixel motion: the minutes the pipeline would store for it, added up (its frames
    placed from a minute boundary). Raises a `ClipError` subclass, naming the clip, for bad input.

    A partly damaged clip keeps its decodable frames and says what was lost in `damage`.
    threads=1 suits many clips in parallel processes; threads=0 lets FFmpeg use every core for one clip.
    decode="gated" skips the groups of pictures in which nothing moved (core.gate).
    """
    reader = MinuteHeatmaps(CLIP_ORIGIN, CLIP_ORIGIN + LONGEST_CLIP, settings, ignore, gate_for(decode))
    decoder = LumaDecoder(clip, threads=threads, fast=fast, gate=reader.gate)
    reader.read(decoder, CLIP_ORIGIN, str(clip))
    minutes = [minute for minute in reader.final() if minute.frame_count]
    report = decoder.report
    return ClipHeatmap(
        clip=str(clip),
        heatmap=sum_heatmaps(minutes).total,
        downscale_factor=float(settings.downscale_factor),
        frame_count=sum(minute.frame_count for minute in minutes),
        source_width=report.width,
        source_height=report.height,
        codec=report.codec,
        first_frame_time=(reader.first_time - CLIP_ORIGIN).total_seconds(),
        last_frame_time=(reader.last_time - CLIP_ORIGIN).total_seconds(),
        lighting_changes=sum(minute.lighting_changes for minute in minutes),
        damage=report.damage,
        still=next((minute.still for minute in minutes if minute.still is not None), None),
        decode=decode,
        decoded=sum_decoded(minute.decoded for minute in minutes),
        decoded_full=report.full_because,
    )

