"""A camera's footage, frame by frame in recording order, -> one heatmap per wall-clock minute: the one engine from
video to heatmap (the pipeline's windows of minutes, and a single clip read on its own, `core.heatmap`).

Each frame belongs to the minute its recording time falls in, whichever clip it came from. The motion detector's
state (its background) carries from one clip to the next when the footage is contiguous, so a segment boundary
shows no false motion; after a hole longer than GAP_TOLERANCE it starts fresh, so a scene that changed while
nothing was recorded does not count as motion either. Frames before the window only warm the detector up.

With a gate (`decode: gated`, core.gate) the frames of a skipped GOP are counted (frame_count, covered_seconds:
they were recorded, and nothing moved in them) but not decoded; the detector starts fresh after them, as after a
hole, so lighting that drifted meanwhile is not taken for motion.

Overlapping clips: clips are read in order of their start (then key); a frame recorded no later than a frame
already taken is left out, so the clip that started first keeps the overlapping span, and the overlap is reported
on the minute.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import cv2
import numpy as np

from roz_pipeline.core.gate import GopGate
from roz_pipeline.core.motion import MotionAccumulator, MotionSettings, Rectangle, heatmap_shape
from roz_pipeline.core.timesteps import MINUTE, floor
from roz_pipeline.core.video import LumaDecoder

# Footage with a shorter hole is contiguous: clip names are to the second, and keyframe cuts shift real starts.
GAP_TOLERANCE = timedelta(seconds=2)
# Recorders cut at keyframes and name a file by its start to the second: consecutive files share up to this much,
# which is no news; a longer overlap (two recorders, a clock change) is named on the minute.
OVERLAP_TOLERANCE = timedelta(seconds=2)
SECONDS_PER_MINUTE = 60.0
# A minute with at least this much footage is fully recorded; less is reported as partly covered.
FULL_MINUTE_SECONDS = SECONDS_PER_MINUTE - GAP_TOLERANCE.total_seconds()
STILL_MAX_WIDTH = 960  # the kept camera still is at most this wide (pictures are 480-960 pixels wide)
FULL_DECODE = "full"  # why a frame was decoded when there is no gate


@dataclass
class MinuteFootage:
    """What one wall-clock minute of a camera got: its heatmap and what it was built from."""

    minute: datetime
    heatmap: np.ndarray | None = None  # float32; None until the minute is closed
    frame_count: int = 0  # frames recorded in the minute and read: decoded, or in a GOP the gate skipped
    covered_seconds: float = 0.0  # footage in the minute: frames x frame interval, at most 60
    decoded: dict[str, int] = field(default_factory=dict)  # frames decoded, by why (FULL_DECODE, core.gate's causes)
    decoded_full: dict[str, str] = field(default_factory=dict)  # clip -> why a gate decoded it fully
    lighting_changes: int = 0  # frames left out as lighting changes
    clips: list[str] = field(default_factory=list)  # the clips that gave it frames, in recording order
    problems: dict[str, str] = field(default_factory=dict)  # clip -> what went wrong with it (damage, overlap)
    still: np.ndarray | None = None  # the window's first decoded frame (luma, <= STILL_MAX_WIDTH wide), on its minute

    @property
    def first_clip(self) -> str:
        """The clip holding the minute's first frame (heatmap_minutes.video_path)."""
        return self.clips[0]


class MinuteHeatmaps:
    """Feed frames in recording order with `add`; `final()` hands over the minutes of `start <= t < end` that are
    complete."""

    def __init__(self, start: datetime, end: datetime, settings: MotionSettings = MotionSettings(),
                 ignore: Sequence[Rectangle] = (), gate: GopGate | None = None):
        self.start, self.end = start, end
        self.settings, self.ignore, self.gate = settings, tuple(ignore), gate
        self._still_due = True  # the window's first decoded frame is kept as its still
        self._minutes: dict[datetime, MinuteFootage] = {}
        self._detector: MotionAccumulator | None = None
        self._current: MinuteFootage | None = None  # the minute the detector is counting for (None: warm-up)
        self.first_time: datetime | None = None  # the recording time of the window's first frame
        self.last_time: datetime | None = None  # the recording time of the last frame taken
        self._last_clip: str | None = None
        self._overlapping: str | None = None  # the clip whose frames repeat the last clip's, once it was seen

    def add(self, time: datetime, luma: np.ndarray, clip: str, frame_interval: float,
            cause: str = FULL_DECODE) -> int | None:
        """Account for one decoded frame recorded at `time` from `clip` (decoded because of `cause`). Returns the
        pixels that moved in it; None when it was left out (it overlaps earlier footage)."""
        if self._overlaps(time, clip):
            return None
        hole = (self.last_time is None
                or time - self.last_time > max(GAP_TOLERANCE, timedelta(seconds=2 * frame_interval)))
        if hole or self._detector is None or self._detector.source_size != (luma.shape[1], luma.shape[0]):
            self.gap()
            self._detector = MotionAccumulator(luma.shape[1], luma.shape[0], self.settings, self.ignore)
        target = self._count(time, clip, frame_interval)
        if target is not self._current:
            self._close_current()
            self._current = target
        moved = self._detector.add(luma)
        if target is not None:
            target.decoded[cause] = target.decoded.get(cause, 0) + 1
            if self._still_due:
                target.still, self._still_due = _still(luma), False
        return moved

    def skip(self, time: datetime, clip: str, frame_interval: float, size: tuple[int, int]) -> None:
        """Account for a frame of a GOP the gate skipped (`size`: the source's width, height): counted, never
        decoded, nothing moved in it; the detector starts fresh at the next decoded frame."""
        if self._overlaps(time, clip):
            return
        self.gap()
        target = self._count(time, clip, frame_interval)
        if target is not None and target.heatmap is None:
            target.heatmap = np.zeros(heatmap_shape(*size, self.settings.downscale_factor), np.float32)

    def _overlaps(self, time: datetime, clip: str) -> bool:
        """Whether a frame at `time` repeats footage already taken (the first repeat from a clip is noted)."""
        if self.last_time is None or time > self.last_time:
            return False
        if clip not in (self._last_clip, self._overlapping):  # named once, from its first repeated frame
            self._overlapping = clip
            if self.last_time - time > OVERLAP_TOLERANCE:
                self._note_overlap(time, clip)
        return True

    def _count(self, time: datetime, clip: str, frame_interval: float) -> MinuteFootage | None:
        """Count a frame taken at `time` on its minute; the minute, None before or after the window."""
        self.last_time, self._last_clip = time, clip
        minute = floor(time, MINUTE)
        if not self.start <= minute < self.end:
            return None
        target = self._minutes.get(minute)
        if target is None:
            target = self._minutes[minute] = MinuteFootage(minute)
        if self.first_time is None:
            self.first_time = time
        target.frame_count += 1
        target.covered_seconds = min(SECONDS_PER_MINUTE, target.covered_seconds + frame_interval)
        if clip not in target.clips:
            target.clips.append(clip)
        return target

    def read(self, decoder: LumaDecoder, recorded_from: datetime, clip: str) -> tuple[datetime, datetime | None]:
        """Feed the frames of `clip`, recorded from `recorded_from`, up to the window's end. Returns the
        recording time reached, and the window's end when the clip runs past it (None: it was read to its end).
        The decoder's ClipError passes through."""
        # On 270x480 frames OpenCV's worker threads cost more CPU than they save, and they compete with the
        # decoder's threads and with other clips' processes (docs/PERFORMANCE.md).
        cv2.setNumThreads(1)
        last, until = recorded_from, None
        for frame in decoder:
            last = recorded_from + timedelta(seconds=frame.time)
            if last >= self.end:
                until = self.end
                break
            report = decoder.report
            if frame.luma is None:
                self.skip(last, clip, report.frame_interval, (report.width, report.height))
                continue
            moved = self.add(last, frame.luma, clip, report.frame_interval,
                             frame.gop.cause if frame.gop else FULL_DECODE)
            if frame.gop is not None and moved is not None:
                frame.gop.saw(moved)
        if decoder.report is not None and decoder.report.full_because:
            for footage in self._minutes.values():
                if clip in footage.clips:
                    footage.decoded_full[clip] = decoder.report.full_because
        return last, until

    def gap(self) -> None:
        """The footage stops here (a hole, or a clip that could not be read): the next frame starts fresh."""
        self._close_current()
        self._detector = None

    def note(self, minute: datetime, clip: str, problem: str) -> None:
        """Record a problem with a clip on the minute it concerns (a minute of the window only)."""
        if self.start <= minute < self.end:
            footage = self._minutes.setdefault(minute, MinuteFootage(minute))
            footage.problems[clip] = problem

    def note_all(self, clip: str, problem: str) -> None:
        """Record a problem with `clip` on every minute not handed over yet that got frames from it."""
        for footage in self._minutes.values():
            if clip in footage.clips:
                footage.problems[clip] = problem

    def final(self, before: datetime | None = None) -> list[MinuteFootage]:
        """Hand over the minutes before `before` (all, when None) that got frames or problems, in order: frames
        come in recording order, so nothing can be added to them any more."""
        if before is None or (self._current is not None and self._current.minute < before):
            self._close_current()
        ready = sorted(m for m in self._minutes
                       if (before is None or m < before) and self._minutes[m] is not self._current)
        return [self._minutes.pop(m) for m in ready]

    def _close_current(self) -> None:
        if self._current is not None and self._detector is not None:
            heatmap, _, lighting_changes = self._detector.take()
            current = self._current
            current.lighting_changes += lighting_changes
            if current.heatmap is None:
                current.heatmap = heatmap
            elif current.heatmap.shape == heatmap.shape:  # the minute resumes after a hole or an unreadable clip
                current.heatmap = current.heatmap + heatmap
            self._current = None
        elif self._detector is not None:
            self._detector.take()  # warm-up frames before the window count for nothing

    def _note_overlap(self, time: datetime, clip: str) -> None:
        seconds = (self.last_time - time).total_seconds()
        self.note(floor(time, MINUTE), clip,
                  f"overlaps {self._last_clip} by {seconds:.0f} s (both recorded {time:%H:%M:%S} to "
                  f"{self.last_time:%H:%M:%S} UTC): those frames were read once, from {self._last_clip}")


def _still(luma: np.ndarray) -> np.ndarray:
    height, width = luma.shape
    if width <= STILL_MAX_WIDTH:
        return luma.copy()
    return cv2.resize(luma, (STILL_MAX_WIDTH, round(height * STILL_MAX_WIDTH / width)), interpolation=cv2.INTER_AREA)
