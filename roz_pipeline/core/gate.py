"""Decide, group of pictures (GOP) by group, which parts of a clip to decode: the GOPs in which nothing moved are
skipped, from what the container gives for free, their packet sizes (`decode: gated` in the registry).

A closed GOP (what cameras send) decodes on its own from its keyframe, so skipping one costs nothing but demuxing.
A still scene's P-frames are small and steady; motion and its residuals make them grow. The gate keeps, per place
in the GOP (the keyframe, the first P-frame, ...), the median size over the last `memory_gops` GOPs the motion
detector found still once decoded. A GOP is skipped when its keyframe and every run of `smoothing_frames` P-frames
stay within `size_margin` times that reference (or within `noise_sigmas` of the still GOPs' own spread), and its
P-frames add up to no less than the reference's over `quieter_margin` (a quieter scene, dawn after a noisy night:
decoded to learn it again).
After a decoded GOP with motion the next one is decoded whatever its sizes (an encoder follows a moving object
with cheap motion vectors). Every `check_seconds` of skipped footage one skippable GOP is decoded anyway; motion
found in it means the sizes do not separate still from moving here: the gate decodes everything from then on.

Where sizes cannot be trusted (another codec than H.264/HEVC, intra refresh, open GOPs, B-frames, GOPs longer than
`max_gop_seconds`, damaged packets, packets without timestamps) the rest of the clip is decoded fully and the
reason is kept (`ClipRoute.full_because`).
"""

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

DECODE_MODES = ("full", "gated")  # the registry's `decode`: every frame, or the GOPs the gate lets through
GATED_CODECS = ("h264", "hevc")
H264_IDR = {5}
HEVC_RASL = {8, 9}  # leading pictures that refer to the GOP before: an open GOP
# Why a gate decodes a GOP, besides the reasons it cannot be trusted.
LEARNING, MOVING, QUIETER, CHECK, SHORT = "learning", "moving", "quieter than learned", "check", "too short to judge"
AFTER_MOTION = "after motion"  # motion was found in the GOP before: a tracked object's packets can stay small
NOT_SEPARATED = "packet sizes do not separate still from moving"


@dataclass(frozen=True)
class GateSettings:
    """Every knob of the gate, with its default."""

    size_margin: float = 1.1  # packets above this times the still reference at their place let their GOP through
    smoothing_frames: int = 5  # P-frames whose sizes are compared together (one frame's noise is not motion)
    noise_sigmas: float = 4.0  # changes within this many (robust) deviations of the still GOPs' sizes are noise
    quieter_margin: float = 1.7  # P-frames adding up to less than the reference over this: a quieter scene
    learn_gops: int = 3  # still GOPs decoded before the first one is skipped
    memory_gops: int = 8  # the reference is the median of this many recent still GOPs
    check_seconds: float = 120.0  # skipped footage after which one skippable GOP is decoded to check the gate
    still_moved_pixels: int = 20  # moved pixel-frames (heatmap grid) a decoded GOP may hold and still be still
    max_gop_seconds: float = 4.0  # longer GOPs are decoded: a skip would hide too much


@dataclass
class GopDecision:
    """One GOP: decoded (`cause` says why) or skipped (`cause` None), and what its decoded frames showed."""

    start: float  # presentation time of its keyframe, seconds
    sizes: tuple[int, ...]  # packet sizes in decoding order, the keyframe first
    cause: str | None
    frames_seen: int = 0  # decoded frames the motion detector received
    moved: int = 0  # pixels that moved in them, summed

    def saw(self, moved: int) -> None:
        """The motion detector received one of this GOP's frames, in which `moved` pixels moved."""
        self.frames_seen += 1
        self.moved += moved


class GopGate:
    """One camera's gate, kept across the clips of a window: it learns the camera's still packet sizes."""

    def __init__(self, settings: GateSettings = GateSettings()):
        self.settings = settings
        self.disabled: str | None = None  # why nothing is skipped any more
        self._still: deque[tuple[int, ...]] = deque(maxlen=settings.memory_gops)
        self._reference: np.ndarray | None = None  # per place in the GOP: the still GOPs' median size
        self._spread: np.ndarray | None = None  # per place: their deviation (median absolute, scaled to a sigma)
        self._pending: list[GopDecision] = []  # decoded GOPs whose frames the detector may not all have seen yet
        self._skipped_seconds = 0.0
        self._after_motion = False  # the latest decoded GOP the detector saw had motion

    def judge(self, start: float, sizes: tuple[int, ...], seconds: float) -> GopDecision:
        """Decode or skip the GOP of these packet sizes (`seconds` long), learning from the decoded GOPs before."""
        self._learn()
        learned, judgeable = len(self._still) >= self.settings.learn_gops, len(sizes) > 1
        unlike = self._unlike(sizes) if learned and judgeable else None
        fits = learned and judgeable and unlike is None
        if self.disabled or not fits or self._after_motion:
            cause = self.disabled or (SHORT if not judgeable else LEARNING if not learned else unlike or AFTER_MOTION)
        elif self._skipped_seconds >= self.settings.check_seconds:
            cause, self._skipped_seconds = CHECK, 0.0
        else:
            self._skipped_seconds += seconds
            return GopDecision(start, sizes, None)
        decision = GopDecision(start, sizes, cause)
        self._pending = [*self._pending[-3:], decision]
        return decision

    def _learn(self) -> None:
        """Take in the decoded GOPs whose every frame the detector saw: still ones teach the reference; a check
        with motion turns the gate off."""
        if self._pending:
            self._after_motion = self._pending[-1].moved > self.settings.still_moved_pixels
        for decision in [d for d in self._pending if d.frames_seen >= len(d.sizes)]:
            self._pending.remove(decision)
            if decision.moved <= self.settings.still_moved_pixels:
                self._remember(decision.sizes)
            elif decision.cause == CHECK:
                self.disabled = NOT_SEPARATED

    def _remember(self, sizes: tuple[int, ...]) -> None:
        self._still.append(sizes)
        self._reference = None

    def _unlike(self, sizes: tuple[int, ...]) -> str | None:
        """How the sizes differ from the learned still GOPs' (MOVING: larger, QUIETER: much smaller), changes within
        their own noise aside; None: alike."""
        margin, sizes = self.settings.size_margin, np.asarray(sizes, np.float64)
        reference, spread = self._places(len(sizes))
        noise = self.settings.noise_sigmas * spread
        window = np.ones(min(self.settings.smoothing_frames, len(sizes) - 1))
        runs, expected = np.convolve(sizes[1:], window, "valid"), np.convolve(reference[1:], window, "valid")
        run_noise = np.sqrt(np.convolve(noise[1:] ** 2, window, "valid"))
        grown = (runs > margin * expected) & (runs - expected > run_noise)
        if grown.any() or (sizes[0] > margin * reference[0] and sizes[0] - reference[0] > noise[0]):
            return MOVING
        return QUIETER if sizes[1:].sum() * self.settings.quieter_margin < reference[1:].sum() else None

    def _places(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The still GOPs' median size and its deviation for the first `count` places of a GOP (a longer GOP's extra
        places: its last)."""
        if self._reference is None:
            places = [np.asarray([sizes[place] for sizes in self._still if len(sizes) > place], np.float64)
                      for place in range(max(len(sizes) for sizes in self._still))]
            self._reference = np.asarray([np.median(sizes) for sizes in places])
            self._spread = np.asarray([1.4826 * np.median(np.abs(sizes - median))  # a sigma, robust to outliers
                                       for sizes, median in zip(places, self._reference)])
        return tuple(values[:count] if count <= len(values) else np.pad(values, (0, count - len(values)), "edge")
                     for values in (self._reference, self._spread))


def gate_for(decode: str) -> GopGate | None:
    """A fresh gate for a camera whose `decode` is "gated"; None for "full"."""
    if decode not in DECODE_MODES:
        raise ValueError(f"decode must be one of {', '.join(DECODE_MODES)}, got {decode!r}")
    return GopGate() if decode == "gated" else None


def sum_decoded(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Frames decoded by why (minutes' `decoded`), added up."""
    total: dict[str, int] = {}
    for count in counts:
        for cause, frames in count.items():
            total[cause] = total.get(cause, 0) + frames
    return total


class ClipRoute:
    """One clip's packets through a gate: `route` pairs each packet with its GOP's decision."""

    def __init__(self, gate: GopGate, codec: str, extradata: bytes | None, time_base, origin: float):
        self.gate, self.codec, self.time_base, self.origin = gate, codec, time_base, origin
        self.length_size = _length_size(codec, extradata)
        self.full_because: str | None = None if codec in GATED_CODECS else f"{codec} is not gated"

    def time(self, packet) -> float:
        """Seconds from the stream's start at which `packet`'s frame is shown."""
        return float(packet.pts * self.time_base) - self.origin

    def route(self, packets: Iterable) -> Iterator[tuple[object, GopDecision]]:
        """Each packet with its GOP's decision, a GOP at a time; once the gate cannot be trusted, packet by packet
        with the reason as cause. The demuxer's final empty packet is decoded (it drains the decoder)."""
        gop: list = []
        for packet in packets:
            if packet.size and packet.pts is None:
                self.full_because = self.full_because or "packets without timestamps"
            reason = self.full_because = self.full_because or self.gate.disabled
            if reason or not packet.size:
                yield from self._judged(gop) if not reason else self._decoded(gop, reason)
                gop = []
                start = self.time(packet) if reason and packet.pts is not None else float("inf")
                yield packet, GopDecision(start, (), reason or "end")
                continue
            if packet.is_keyframe and gop:
                yield from self._judged(gop)
                gop = []
            gop.append(packet)
            if self._too_long(gop):
                yield from self._decoded(gop, self.full_because)
                gop = []
        yield from self._judged(gop)

    def _decoded(self, gop: list, reason: str) -> Iterator[tuple[object, GopDecision]]:
        if gop:
            decision = GopDecision(self.time(gop[0]), (), reason)
            yield from ((packet, decision) for packet in gop)

    def _judged(self, gop: list) -> Iterator[tuple[object, GopDecision]]:
        if not gop:
            return
        self.full_because = self._untrusted(gop)
        start = self.time(gop[0])
        if self.full_because:
            yield from self._decoded(gop, self.full_because)
            return
        seconds = self.time(gop[-1]) - start + (self.time(gop[-1]) - self.time(gop[-2]) if len(gop) > 1 else 0)
        decision = self.gate.judge(start, tuple(packet.size for packet in gop), seconds)
        yield from ((packet, decision) for packet in gop)

    def _too_long(self, gop: list) -> bool:
        if self.time(gop[-1]) - self.time(gop[0]) > self.gate.settings.max_gop_seconds:
            self.full_because = f"GOPs longer than {self.gate.settings.max_gop_seconds:g} s"
        return self.full_because is not None

    def _untrusted(self, gop: list) -> str | None:
        """Why this GOP's sizes, or skipping it, cannot be trusted; None when they can."""
        if any(packet.is_corrupt for packet in gop):
            return "damaged packets"
        if not gop[0].is_keyframe:
            return "no keyframe to start from"
        shown = [packet.pts for packet in gop]
        if shown != sorted(shown) or len(set(shown)) < len(shown):
            return "B-frames"
        if self.codec == "h264" and not _nal_types(gop[0], self.length_size, hevc=False) & H264_IDR:
            return "intra refresh"  # a keyframe without an IDR picture: a recovery point, not a fresh start
        if self.codec == "hevc" and any(_nal_types(packet, self.length_size, hevc=True) & HEVC_RASL for packet in gop):
            return "open GOP"
        return None


def _length_size(codec: str, extradata: bytes | None) -> int | None:
    """Bytes of each NAL unit's length prefix (MP4, Matroska); None for start codes (MPEG-TS, raw streams)."""
    if not extradata or extradata[0] != 1:
        return None
    offset = 4 if codec == "h264" else 21
    return (extradata[offset] & 3) + 1 if len(extradata) > offset else None


def _nal_types(packet, length_size: int | None, *, hevc: bool) -> set[int]:
    """The NAL unit types in a packet, read from their headers without copying the packet."""
    data = memoryview(packet)
    headers = []
    if length_size is None:
        raw = data.tobytes()
        position = raw.find(b"\x00\x00\x01")
        while position >= 0 and position + 3 < len(raw):
            headers.append(raw[position + 3])
            position = raw.find(b"\x00\x00\x01", position + 3)
    else:
        position = 0
        while position + length_size < len(data):
            headers.append(data[position + length_size])
            position += length_size + int.from_bytes(data[position: position + length_size], "big")
    return {(header >> 1) & 0x3F if hevc else header & 0x1F for header in headers}
