"""Synthetic camera footage: a still scene with sensor noise and person-sized shapes walking across it.

Used by `roz demo`, the tests and the benchmarks. Clips are really encoded (H.264 by default) through PyAV.
"""

import os
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np


@dataclass(frozen=True)
class Walker:
    """A person-sized shape crossing the frame in a straight line between two frame numbers."""

    start: tuple[int, int]  # x, y of the top-left corner at `first_frame`
    end: tuple[int, int]  # x, y at `last_frame`
    size: tuple[int, int] = (24, 64)  # width, height in pixels
    first_frame: int = 0
    last_frame: int | None = None  # default: the clip's last frame
    brightness: int = 230

    def position(self, frame: int, frames: int) -> tuple[int, int] | None:
        last = self.last_frame if self.last_frame is not None else frames - 1
        if not self.first_frame <= frame <= last:
            return None
        t = (frame - self.first_frame) / max(1, last - self.first_frame)
        return (round(self.start[0] + t * (self.end[0] - self.start[0])),
                round(self.start[1] + t * (self.end[1] - self.start[1])))


def scene(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A still grey scene: a lit floor, a wall, a few boxes and fine texture, so codecs behave as on real footage."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    image = 70 + 60 * y + 20 * x
    image[: height // 3] = 150 - 30 * x[:, :]  # the wall
    for _ in range(6):
        x0, y0 = rng.integers(0, width - width // 8), rng.integers(height // 3, height - height // 8)
        image[y0: y0 + height // 10, x0: x0 + width // 12] = rng.integers(40, 200)
    image += rng.normal(0, 6, (height, width))
    return np.clip(image, 0, 255).astype(np.uint8)


def write_clip(
    path: str | os.PathLike,
    *,
    width: int = 640,
    height: int = 360,
    fps: int = 15,
    frames: int = 60,
    walkers: tuple[Walker, ...] = (),
    noise: float = 2.0,
    brightness_jump: tuple[int, int] | None = None,  # (frame, levels): the scene brightens by `levels` from then on
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    seed: int = 0,
    options: dict | None = None,
    container_options: dict | None = None,
) -> str:
    """Encode a clip of `frames` frames to `path` and return the path as a string."""
    rng = np.random.default_rng(seed + 1)
    background = scene(width, height, seed).astype(np.float32)
    if codec in ("libx264", "libx265"):
        options = {"preset": "ultrafast", "crf": "20",
                   **({"x265-params": "log-level=error"} if codec == "libx265" else {}), **(options or {})}

    def images():
        for index in range(frames):
            image = background + rng.normal(0, noise, (height, width)) if noise else background.copy()
            if brightness_jump and index >= brightness_jump[0]:
                image += brightness_jump[1]
            for walker in walkers:
                position = walker.position(index, frames)
                if position:
                    x, y = position
                    image[max(0, y): y + walker.size[1], max(0, x): x + walker.size[0]] = walker.brightness
            yield image

    return encode_frames(path, images(), width=width, height=height, fps=fps, codec=codec, pix_fmt=pix_fmt,
                         options=options, container_options=container_options)


def camera_stream_options(gop: int) -> dict:
    """x264 as a camera streams: a keyframe every `gop` frames (none on scene cuts), no B-frames."""
    return {"preset": "veryfast", "crf": "23", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "0"}


def encode_frames(path: str | os.PathLike, images: Iterable[np.ndarray], *, width: int, height: int, fps: int,
                  codec: str = "libx264", pix_fmt: str = "yuv420p", options: dict | None = None,
                  container_options: dict | None = None) -> str:
    """Encode grey frames (any numeric type, clipped to 0-255) to `path`; returns the path as a string."""
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if options:
            stream.options = options
        for index, image in enumerate(images):
            gray = np.clip(image, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(gray, format="gray").reformat(format=pix_fmt)
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)
