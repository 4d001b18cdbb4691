"""Decode the luma (brightness) plane of a clip's frames, with timestamps, and say clearly why a clip is bad.

PyAV (FFmpeg's libraries) reads any container and codec FFmpeg knows. For planar YUV and grey frames the luma plane
is viewed in place, never converted: converting colour costs 2.5-3 ms per 1080p frame, more than motion detection
(docs/PERFORMANCE.md). Other pixel formats (RGB codecs, 10-bit) are converted to 8-bit grey.
"""

import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from roz_pipeline.core.gate import ClipRoute, GopDecision, GopGate

DEFAULT_FRAME_RATE = 15.0  # for streams that do not say theirs
MIN_DIMENSION = 16
MAX_DIMENSION = 8192
# 8-bit formats whose first plane is the luma plane, one byte per pixel.
_LUMA_FIRST_FORMATS = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p", "yuv410p",
                       "yuv440p", "yuvj440p", "nv12", "nv21", "nv16", "gray", "yuva420p"}


class ClipError(Exception):
    """A clip that cannot become a heatmap. The message always names the clip."""

    reason = "bad clip"

    def __init__(self, clip: str | os.PathLike, detail: str):
        self.clip = str(clip)
        self.detail = detail
        super().__init__(f"{self.clip}: {self.reason}: {detail}")


class EmptyClipError(ClipError):
    reason = "empty file"


class UnreadableClipError(ClipError):
    reason = "cannot read the file"


class NotAVideoError(ClipError):
    reason = "not a video FFmpeg can read"


class NoVideoStreamError(ClipError):
    reason = "no video stream"


class NoFramesError(ClipError):
    reason = "no decodable frames"


class BadDimensionsError(ClipError):
    reason = "unsupported frame size"


class UnsupportedCodecError(ClipError):
    reason = "unsupported codec"


@dataclass
class DecodeReport:
    """What decoding found, filled in while frames are read."""

    codec: str
    width: int
    height: int
    expected_frames: int | None  # from the container's index or duration; None when it does not say
    frame_interval: float  # seconds between frames at the stream's average rate
    decoded_frames: int = 0
    skipped_frames: int = 0  # frames of GOPs the gate skipped: read from the container, never decoded
    full_because: str | None = None  # with a gate: why (part of) the clip was decoded fully regardless
    corrupt_packets: int = 0
    errors: list[str] = field(default_factory=list)
    read_whole: bool = False  # every packet was read from the start (no seek, not stopped early)

    @property
    def damage(self) -> str | None:
        """A sentence describing the damage, or None for a clean decode."""
        problems = []
        if self.corrupt_packets or self.errors:
            problems.append(f"{self.corrupt_packets + len(self.errors)} corrupt packet(s) skipped")
        frames = self.decoded_frames + self.skipped_frames
        if self.read_whole and self.expected_frames and frames < 0.98 * self.expected_frames - 1:
            problems.append(f"decoded {frames} of {self.expected_frames} frames the container announces")
        return "; ".join(problems) or None


@dataclass(frozen=True)
class LumaFrame:
    time: float  # seconds from the stream's start (its first presentation timestamp)
    luma: np.ndarray | None  # uint8 height x width, valid only until the next frame is read; None: skipped
    gop: GopDecision | None = None  # with a gate: the decision on the frame's GOP


class LumaDecoder:
    """Iterates over a clip's frames as luma arrays. Raises a ClipError subclass for bad input.

    threads: decoder threads (0 = FFmpeg's choice, all cores). fast: skip the deblocking loop filter (measured in
    bench/extract.py). start_at: seconds into the stream to seek to first; decoding starts at the keyframe before
    it, so a few earlier frames come too. gate: skip the GOPs it judges still (core.gate); their frames come with
    no luma.
    """

    def __init__(self, clip: str | os.PathLike, *, threads: int = 1, fast: bool = False, start_at: float = 0.0,
                 gate: GopGate | None = None):
        self.clip = Path(clip)
        self.threads = threads
        self.fast = fast
        self.start_at = start_at
        self.gate = gate
        self.report: DecodeReport | None = None

    def __iter__(self) -> Iterator[LumaFrame]:
        container = self._open()
        try:
            stream = container.streams.video[0]
            self.report = self._inspect(stream)
            if self.fast:
                stream.codec_context.options = {"skip_loop_filter": "all"}
            if self.threads != 1:
                stream.thread_type = "AUTO"  # frame and slice threads
            stream.thread_count = self.threads
            origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            if self.start_at > 0:
                container.seek(int((origin + self.start_at) / stream.time_base), stream=stream, backward=True)
            packets = container.demux(stream)
            if self.gate is None:
                for packet in packets:
                    yield from self._frames(self._decode(packet), (), origin)
            else:
                yield from self._gated(packets, stream, origin)
            self.report.read_whole = self.start_at <= 0
        except av.error.FFmpegError as exc:
            raise NotAVideoError(self.clip, str(exc)) from None
        finally:
            container.close()
        if self.report.decoded_frames + self.report.skipped_frames == 0:
            raise NoFramesError(self.clip, f"{self.report.codec} stream decoded to 0 frames")

    def _gated(self, packets: Iterable, stream, origin: float) -> Iterator[LumaFrame]:
        """Decode the GOPs the gate lets through; a skipped GOP's frames come with their times and no luma."""
        context = stream.codec_context
        route = ClipRoute(self.gate, context.name, context.extradata, stream.time_base, origin)
        decoded: deque[GopDecision] = deque(maxlen=4)  # the latest decoded GOPs, to tell which one a frame is of
        fed = False  # packets went into the decoder since it was last drained
        for packet, decision in route.route(packets):
            self.report.full_because = route.full_because
            if decision.cause is None:
                if fed:  # frames still inside the decoder come out before the skipped ones
                    yield from self._frames(self._decode(None, context), decoded, origin)
                    context.flush_buffers()
                    fed = False
                self.report.skipped_frames += 1
                yield LumaFrame(route.time(packet), None, decision)
                continue
            if not decoded or decoded[-1] is not decision:
                decoded.append(decision)
            fed = True
            yield from self._frames(self._decode(packet), decoded, origin)

    def _decode(self, packet, context=None) -> list:
        """The frames a packet gives (None with `context`: the frames left in the decoder); [] when damaged."""
        if packet is not None and packet.is_corrupt:
            self.report.corrupt_packets += 1
        try:
            return packet.decode() if packet is not None else context.decode(None)
        except av.error.FFmpegError as exc:  # a damaged packet: skip it, keep the rest
            self.report.errors.append(str(exc))
            return []

    def _frames(self, frames: list, decoded, origin: float) -> Iterator[LumaFrame]:
        for frame in frames:
            self.report.decoded_frames += 1
            time = float(frame.time or origin) - origin
            gop = next((decision for decision in reversed(decoded) if decision.start <= time + 1e-6), None)
            yield LumaFrame(time, _luma(frame), gop)

    def _open(self):
        try:
            size = self.clip.stat().st_size
        except OSError as exc:
            raise UnreadableClipError(self.clip, exc.strerror or str(exc)) from None
        if not self.clip.is_file():
            raise UnreadableClipError(self.clip, "not a regular file")
        if size == 0:
            raise EmptyClipError(self.clip, "0 bytes")
        try:
            self.clip.open("rb").close()  # a permission problem, said plainly rather than in FFmpeg's words
            container = av.open(str(self.clip), metadata_errors="ignore")
        except PermissionError as exc:
            raise UnreadableClipError(self.clip, exc.strerror or "permission denied") from None
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            raise NotAVideoError(self.clip, _ffmpeg_message(exc)) from None
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
            container.close()
            raise NoVideoStreamError(self.clip, f"streams found: {kinds}")
        return container

    def _inspect(self, stream) -> DecodeReport:
        ctx = stream.codec_context
        if ctx is None:
            raise UnsupportedCodecError(self.clip, "this FFmpeg build has no decoder for its video stream")
        width, height = ctx.width, ctx.height
        if not (MIN_DIMENSION <= width <= MAX_DIMENSION and MIN_DIMENSION <= height <= MAX_DIMENSION):
            raise BadDimensionsError(
                self.clip, f"{width}x{height}; frames must be {MIN_DIMENSION}-{MAX_DIMENSION} pixels on each side"
            )
        rate = float(stream.average_rate or stream.guessed_rate or 0) or DEFAULT_FRAME_RATE
        return DecodeReport(ctx.name, width, height, _expected_frames(stream), 1.0 / rate)


def _expected_frames(stream) -> int | None:
    if stream.frames:
        return int(stream.frames)
    if stream.duration and stream.time_base and stream.average_rate:
        return int(round(float(stream.duration * stream.time_base * stream.average_rate)))
    return None


def _luma(frame) -> np.ndarray:
    if frame.format.name in _LUMA_FIRST_FORMATS:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        return rows[: frame.height, : frame.width]
    return frame.to_ndarray(format="gray")


def _ffmpeg_message(exc: Exception) -> str:
    if isinstance(exc, av.error.FFmpegError) and exc.strerror:
        return exc.strerror
    return str(exc)
