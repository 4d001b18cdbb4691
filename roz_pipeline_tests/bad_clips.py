"""Bad and unusual clips, really encoded, for the engine and reliability tests."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from roz_pipeline.clips.synthetic import Walker, write_clip

WALKER = Walker(start=(0, 30), end=(140, 30), size=(12, 30))  # a person crossing a 160x96 frame


def variable_frame_rate(path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        pts = 0
        for index, gap in enumerate(np.random.default_rng(5).integers(20, 400, 30)):
            image = np.full((96, 160), 90, np.uint8)
            image[30:60, index * 4: index * 4 + 12] = 230
            frame = av.VideoFrame.from_ndarray(image, format="gray").reformat(format="yuv420p")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            pts += int(gap)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def unsupported_codec(path: Path) -> None:
    source = Path(write_clip(path.with_suffix(".src.mkv"), codec="mpeg4", frames=5, width=64, height=64))
    path.write_bytes(source.read_bytes().replace(b"V_MPEG4/ISO/ASP", b"V_ROZTEST/NOPEX"))
    source.unlink()


def no_decodable_frames(path: Path) -> None:
    source = av.open(write_clip(path.with_suffix(".src.mkv"), frames=6, codec="mpeg4", width=160, height=96))
    rng = np.random.default_rng(7)
    with source, av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is None:
                continue
            garbage = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
            garbage.pts, garbage.dts, garbage.time_base, garbage.stream = (
                packet.pts, packet.dts, packet.time_base, stream)
            container.mux(garbage)


def audio_only(path: Path) -> None:
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("mp2", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1152), np.int16), format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)


def truncated(path: Path, faststart: bool) -> None:
    full = Path(write_clip(path.with_suffix(".full.mp4"), frames=40, width=160, height=96, walkers=(WALKER,),
                           container_options={"movflags": "+faststart"} if faststart else None))
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    full.unlink()


def corrupt_packets(path: Path, width: int = 160, height: int = 96, walker: Walker = WALKER) -> None:
    full = Path(write_clip(path.with_suffix(".full.mkv"), frames=60, width=width, height=height, walkers=(walker,),
                           codec="mpeg4", options={"g": "10"}))
    data = bytearray(full.read_bytes())
    rng = np.random.default_rng(3)
    for offset in rng.integers(len(data) // 4, len(data) - 100, 30):
        data[offset: offset + 40] = rng.integers(0, 256, 40, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    full.unlink()
