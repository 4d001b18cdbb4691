"""Heatmap extraction vs FFmpeg decode-only of the same clip, all measured in one run.

    python bench/extract.py [--clip CLIP] [--real PATH ...]

Makes (once, cached in bench/out/) a 60 s 1080p15 H.264 clip with people walking, unless --clip is given, then
prints CPU and wall time of:
  - `ffmpeg -threads 1 -i clip -f null -` (FFmpeg decode only, the floor) vs our extraction on one thread,
    with and without the fast mode (skip_loop_filter), and how well fast-mode maps correlate with full ones;
  - the same with the decoder on all cores (`-threads 0` / threads=0);
  - two clips in two processes vs one clip in one process (throughput on this machine);
  - bytes and encoder CPU per row on real recorded footage (Debian opencv-doc's vtest.avi by default): Roz's
    encoder vs the stdlib's zlib, and the encoder's CPU vs the row's extraction CPU;
  - `decode: gated` vs the full decode on footage with real stillness built from vtest.avi (bench/gated.py):
    CPU ratios per clip and agreement with the full decode.
Ratios < 1 mean faster than the baseline. Results also go to bench/out/extract.json.
"""

import argparse
import json
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path

import gated  # bench/gated.py
import numpy as np

from roz_pipeline.clips.synthetic import Walker, write_clip
from roz_pipeline.core import codec
from roz_pipeline.core.codec import encode_intensity
from roz_pipeline.core.heatmap import compute_heatmap
from roz_pipeline.core.motion import MotionAccumulator, MotionSettings
from roz_pipeline.core.video import LumaDecoder

OUT = Path(__file__).resolve().parent / "out"
REAL_FOOTAGE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
REPEATS = 5  # runs of every row, interleaved so that a noisy neighbour slows all rows alike; medians reported


def encoder_name() -> str:
    """What `encode_intensity` compresses with here: libdeflate when the `deflate` package is installed."""
    return f"libdeflate level {codec.LIBDEFLATE_LEVEL}" if codec.deflate else f"stdlib zlib level {codec.ZLIB_LEVEL}"


def ffmpeg_binary() -> str:
    """Debian's ffmpeg if installed, else the one bundled with imageio-ffmpeg (pip install imageio-ffmpeg)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def benchmark_clip() -> Path:
    path = OUT / "bench_1080p15_60s.mp4"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        print(f"making {path} (60 s of 1080p15 H.264, once)...", file=sys.stderr)
        walkers = tuple(
            Walker(start=(-60, 380 + 120 * i), end=(1900, 300 + 150 * i), size=(60, 170),
                   first_frame=150 * i, last_frame=150 * i + 400)
            for i in range(5)
        )
        write_clip(path, width=1920, height=1080, fps=15, frames=900, walkers=walkers, noise=1.5,
                   options={"preset": "veryfast", "crf": "23", "g": "30"})
    return path


def timed(function, *args, **kwargs) -> tuple[float, float, object]:
    """(cpu seconds of this process and its children, wall seconds, result) for one call."""
    before = _cpu()
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return _cpu() - before, time.perf_counter() - started, result


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def ffmpeg_decode(clip: Path, threads: int, extra: tuple[str, ...] = ()) -> None:
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-threads", str(threads), *extra,
                    "-i", str(clip), "-f", "null", "-"], check=True)


def _one_clip(clip: str) -> int:
    return compute_heatmap(clip).frame_count


def parallel_throughput(clip: Path) -> tuple[float, float]:
    """(wall seconds for one clip in one process, wall seconds for two clips in two processes)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        pool.apply(_one_clip, (str(clip),))  # warm the worker
        started = time.perf_counter()
        pool.apply(_one_clip, (str(clip),))
        one = time.perf_counter() - started
    with context.Pool(2) as pool:
        pool.map(_one_clip, [str(clip)] * 2)
        started = time.perf_counter()
        pool.map(_one_clip, [str(clip)] * 2)
        two = time.perf_counter() - started
    return one, two


def row_encoding(path: Path, downscale_factor: float, window_seconds: float = 60,
                 step_seconds: float = 10) -> dict:
    """Rows of `window_seconds` windows of a real recording (overlapping when it is short): the extraction CPU of a
    row (its frames' decode and motion) against each encoder's bytes and CPU for the same row."""
    frames, decode_cpu = [], time.process_time()
    for frame in LumaDecoder(path):
        frames.append((frame.time, frame.luma.copy()))
    decode_cpu_per_frame = (time.process_time() - decode_cpu) / len(frames)
    height, width = frames[0][1].shape
    end, start, rows = frames[-1][0], 0.0, []
    while True:
        window = [luma for t, luma in frames if start <= t < start + window_seconds]
        started = time.process_time()
        accumulator = MotionAccumulator(width, height, MotionSettings(downscale_factor=downscale_factor))
        for luma in window:
            accumulator.add(luma)
        heatmap = accumulator.heatmap()
        rows.append((heatmap, time.process_time() - started + decode_cpu_per_frame * len(window)))
        if start + window_seconds >= end:
            break
        start = min(start + step_seconds, max(0.0, end - window_seconds))
    encoders = {"stdlib zlib level 6 (fallback)": lambda a: zlib.compress(a.tobytes(), 6),
                f"roz: {encoder_name()}": encode_intensity}
    extraction_cpu = statistics.median(cpu for _, cpu in rows)
    result = {"rows": len(rows), "extraction_cpu_ms": round(extraction_cpu * 1000, 1), "encoders": {}}
    for name, encode in encoders.items():
        sizes, cpus = [], []
        for heatmap, _ in rows:
            for _ in range(3):
                started = time.process_time()
                blob = encode(heatmap)
                cpus.append(time.process_time() - started)
            sizes.append(len(blob))
        result["encoders"][name] = {"median_bytes": int(statistics.median(sizes)),
                                    "cpu_ms": round(statistics.median(cpus) * 1000, 2)}
    baseline, ours = result["encoders"].values()
    result["roz bytes / stdlib bytes"] = round(ours["median_bytes"] / baseline["median_bytes"], 4)
    result["roz encoder cpu / extraction cpu"] = round(ours["cpu_ms"] / (extraction_cpu * 1000), 4)
    return result


def decode_timings(clip: Path, frames: int, repeats: int) -> tuple[dict, dict]:
    """Roz's extraction against ffmpeg's decode-only of the same clip, interleaved: (timings per row, ratios)."""
    results = {}
    rows = [
        ("ffmpeg decode-only, 1 thread", lambda: ffmpeg_decode(clip, 1)),
        ("roz extraction, 1 thread", lambda: compute_heatmap(clip, threads=1)),
        ("ffmpeg -skip_loop_filter all, 1 thread", lambda: ffmpeg_decode(clip, 1, ("-skip_loop_filter", "all"))),
        ("roz extraction --fast, 1 thread", lambda: compute_heatmap(clip, threads=1, fast=True)),
        ("ffmpeg decode-only, all cores", lambda: ffmpeg_decode(clip, 0)),
        ("roz extraction, all cores", lambda: compute_heatmap(clip, threads=0)),
    ]
    print(f"{'':42} {'cpu s':>7} {'wall s':>7} {'fps':>6} {'cpu vs ffmpeg 1 thread':>23}")
    runs = {name: [] for name, _ in rows}
    for _ in range(repeats):
        for name, run in rows:
            runs[name].append(timed(run)[:2])
    for name, measured in runs.items():
        cpu, wall = statistics.median(m[0] for m in measured), statistics.median(m[1] for m in measured)
        results[name] = {"cpu_s": round(cpu, 3), "wall_s": round(wall, 3), "fps": round(frames / wall, 1)}
    baseline = results["ffmpeg decode-only, 1 thread"]["cpu_s"]
    for name, r in results.items():
        r["cpu_ratio_vs_ffmpeg_1_thread"] = round(r["cpu_s"] / baseline, 3)
        print(f"{name:42} {r['cpu_s']:7.2f} {r['wall_s']:7.2f} {r['fps']:6.0f} "
              f"{r['cpu_ratio_vs_ffmpeg_1_thread']:23.2f}")
    ratios = {
        "roz 1 thread / ffmpeg 1 thread (cpu)": results["roz extraction, 1 thread"]["cpu_ratio_vs_ffmpeg_1_thread"],
        "roz --fast / ffmpeg 1 thread (cpu)":
            results["roz extraction --fast, 1 thread"]["cpu_ratio_vs_ffmpeg_1_thread"],
        "roz all cores / ffmpeg all cores (wall)": round(
            results["roz extraction, all cores"]["wall_s"] / results["ffmpeg decode-only, all cores"]["wall_s"], 3),
    }
    full, fast = compute_heatmap(clip), compute_heatmap(clip, fast=True)
    ratios["fast-mode map correlation with full decode"] = round(
        float(np.corrcoef(full.heatmap.ravel(), fast.heatmap.ravel())[0, 1]), 4)

    one, two = parallel_throughput(clip)
    ratios["2 clips in 2 processes vs 1 clip in 1 process (throughput)"] = round(2 * one / two, 3)
    ratios["camera-minutes per wall-minute, 2 processes"] = round(2 * 60 / two, 1)
    print()
    for name, value in ratios.items():
        print(f"{name:60} {value}")
    return results, ratios


def real_footage_rows(paths: list[Path]) -> dict:
    """Bytes and encoder CPU per row on real recordings, at two downscale factors."""
    real = {}
    for path in paths:
        if not path.exists():
            print(f"\n{path} missing: install Debian's opencv-doc for real-footage bytes per row", file=sys.stderr)
            continue
        for factor in (4, 1.6):
            key = f"{path.name} downscale {factor}"
            real[key] = measured = row_encoding(path, factor)
            print(f"\nrows of {key}: {measured['rows']}, extraction {measured['extraction_cpu_ms']:.0f} ms cpu per row")
            for name, encoder in measured["encoders"].items():
                print(f"  {name:58} median {encoder['median_bytes'] / 1000:6.1f} KB  {encoder['cpu_ms']:6.1f} ms cpu")
            for ratio in ("roz bytes / stdlib bytes", "roz encoder cpu / extraction cpu"):
                print(f"  {ratio:58} {measured[ratio]}")
    return real


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, help="a clip to measure instead of the generated one")
    parser.add_argument("--real", type=Path, nargs="*", default=[REAL_FOOTAGE], help="real recordings for bytes/row")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="interleaved runs of every row (medians)")
    parser.add_argument("--gated-day-minutes", type=float, default=20, help="bench/gated.py's day, in minutes")
    args = parser.parse_args(argv)
    clip = args.clip or benchmark_clip()
    info = compute_heatmap(clip)
    bitrate = clip.stat().st_size * 8 / max(info.last_frame_time - info.first_frame_time, 1e-9) / 1e6
    print(f"clip: {clip.name}: {info.source_width}x{info.source_height}, {info.frame_count} frames, "
          f"{info.codec}, {bitrate:.1f} Mbit/s; ffmpeg: {ffmpeg_binary()}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}\n")

    results, ratios = decode_timings(clip, info.frame_count, args.repeats)
    real = real_footage_rows(args.real)
    print(f"\ndecode: gated vs full (bench/gated.py, {args.gated_day_minutes:g}-minute day)")
    gated_results = gated.main(["--day-minutes", str(args.gated_day_minutes), "--repeats", str(min(args.repeats, 3))])
    OUT.mkdir(parents=True, exist_ok=True)
    report = {"clip": str(clip), "timings": results, "ratios": ratios, "real_footage": real, "gated": gated_results}
    (OUT / "extract.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
