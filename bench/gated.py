"""`decode: gated` vs the full decode on footage with real stillness, built from a real recording (bench/extract.py
runs it; `python bench/gated.py [--day-minutes N] [--repeats N]` alone).

The footage (made once, cached in bench/out/): OpenCV's vtest.avi (768x576 street, 10 fps, real pedestrians). Its
empty scene is the temporal median of its frames; still stretches hold that scene with fresh temporal sensor noise
on every frame; busy stretches are vtest's own frames (with the same noise). Encoded as a camera sends it: x264
veryfast, CRF 23, no B-frames, a keyframe every 1.5 s. A "day" compressed into `--day-minutes`: night (dark, noisy)
with a passer-by, a dawn ramp, day stills, two busy stretches, a dusk ramp: 80% still. Also: a still day stretch and
a still night stretch alone, vtest all busy, and the fallbacks (intra refresh, B-frames).

Per clip, in one run: CPU of the gated extraction / the full one (medians of interleaved repeats), frames decoded;
for the day, agreement with the full decode minute by minute: the share of the full decode's intensity the gated
minutes hold, the correlation of busy minutes, still minutes that are not zero, and the gate's misses.
"""

import argparse
import json
import statistics
import sys
from datetime import timedelta
from pathlib import Path

import av
import numpy as np

from roz_pipeline.clips.synthetic import camera_stream_options, encode_frames
from roz_pipeline.core.gate import gate_for
from roz_pipeline.core.heatmap import CLIP_ORIGIN, LONGEST_CLIP
from roz_pipeline.core.minutes import MinuteHeatmaps
from roz_pipeline.core.video import LumaDecoder

OUT = Path(__file__).resolve().parent / "out"
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
FPS, GOP = 10, 15
CAMERA = camera_stream_options(GOP)
DAY, NIGHT = (1.0, 1.2), (0.45, 3.0)  # (gain, sensor noise sigma in luma levels)
# The day, in shares of its length: (kind, share, light at the start, light at the end, vtest's first frame).
DAY_PATTERN = [("still", 0.22, NIGHT, NIGHT, 0), ("busy", 0.03, NIGHT, NIGHT, 0), ("still", 0.08, NIGHT, NIGHT, 0),
               ("still", 0.10, NIGHT, DAY, 0), ("still", 0.20, DAY, DAY, 0), ("busy", 0.09, DAY, DAY, 0),
               ("still", 0.10, DAY, DAY, 0), ("busy", 0.08, DAY, DAY, 300), ("still", 0.07, DAY, NIGHT, 0),
               ("still", 0.03, NIGHT, NIGHT, 0)]


def recording() -> tuple[np.ndarray, np.ndarray]:
    """vtest's frames (grey) and its empty scene (their temporal median)."""
    with av.open(str(VTEST)) as container:
        frames = np.stack([frame.to_ndarray(format="gray") for frame in container.decode(video=0)])
    return frames, np.median(frames[::4], axis=0).astype(np.float32)


def day_frames(frames: np.ndarray, empty: np.ndarray, seconds: float, pattern=DAY_PATTERN, seed: int = 0):
    """The day's frames: stills of the empty scene and vtest's busy frames, with noise and the light of the hour."""
    rng = np.random.default_rng(seed)
    for kind, share, (gain0, sigma0), (gain1, sigma1), first in pattern:
        count = max(GOP, round(share * seconds * FPS))
        for index in range(count):
            t = index / max(1, count - 1)
            gain, sigma = gain0 + t * (gain1 - gain0), sigma0 + t * (sigma1 - sigma0)
            scene = empty if kind == "still" else frames[(first + index) % len(frames)].astype(np.float32)
            yield scene * gain + rng.normal(0, sigma, empty.shape).astype(np.float32)


def encode(path: Path, images, options: dict = CAMERA) -> Path:
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.mp4")
    encode_frames(partial, images, width=768, height=576, fps=FPS, options=options)
    partial.rename(path)
    return path


def clips(day_minutes: float) -> dict[str, Path]:
    """The footage, made once: name -> clip."""
    frames, empty = recording()
    seconds = day_minutes * 60
    still = {"day still": [("still", 1.0, DAY, DAY, 0)], "night still": [("still", 1.0, NIGHT, NIGHT, 0)]}
    busy = [("busy", 1.0, DAY, DAY, 0)]
    made = {f"day ({day_minutes:g} min, 80% still)": encode(OUT / f"gated_day_{day_minutes:g}min.mp4",
                                                             day_frames(frames, empty, seconds))}
    for name, pattern in still.items():
        made[f"{name} ({min(10.0, day_minutes):g} min)"] = encode(
            OUT / f"gated_{name.replace(' ', '_')}_{min(10.0, day_minutes):g}min.mp4",
            day_frames(frames, empty, min(10.0, day_minutes) * 60, pattern))
    made["vtest all busy (80 s)"] = encode(OUT / "gated_busy.mp4", day_frames(frames, empty, 79.5, busy))
    made["vtest, intra refresh"] = encode(OUT / "gated_intra_refresh.mp4", day_frames(frames, empty, 79.5, busy),
                                          {**CAMERA, "x264-params": "intra-refresh=1"})
    made["vtest, B-frames"] = encode(OUT / "gated_bframes.mp4", day_frames(frames, empty, 79.5, busy),
                                     {**CAMERA, "bf": "2"})
    return made


def minutes_of(clip: Path, decode: str):
    """The clip's minutes as the pipeline computes them, and the decoder's report."""
    reader = MinuteHeatmaps(CLIP_ORIGIN, CLIP_ORIGIN + LONGEST_CLIP, gate=gate_for(decode))
    decoder = LumaDecoder(clip, gate=reader.gate)
    reader.read(decoder, CLIP_ORIGIN, str(clip))
    return reader.final(), decoder.report


def agreement(full: list, gated: list) -> dict:
    """How the gated minutes compare with the full decode's."""
    totals = [(f.minute, float(f.heatmap.sum()), float(g.heatmap.sum()), f.heatmap, g.heatmap)
              for f, g in zip(full, gated)]
    busy = [(minute, a, b, fa, ga) for minute, a, b, fa, ga in totals if a > 0]
    correlations = [float(np.corrcoef(fa.ravel(), ga.ravel())[0, 1]) if b > 0 else 0.0 for _, a, b, fa, ga in busy]
    found = sum(min(a, b) for _, a, b, _, _ in busy)
    return {
        "minutes": len(totals), "busy_minutes": len(busy),
        "intensity_share_found": round(found / max(1.0, sum(a for _, a, _, _, _ in busy)), 4),
        "busy_minute_correlation_min": round(min(correlations), 4) if correlations else None,
        "busy_minute_correlation_median": round(statistics.median(correlations), 4) if correlations else None,
        "still_minutes_not_zero": sum(1 for _, a, b, _, _ in totals if a == 0 and b != 0),
        "misses": [{"minute": int((m - CLIP_ORIGIN) / timedelta(minutes=1)), "full": a, "gated": b}
                   for m, a, b, _, _ in busy if b < 0.9 * a],
    }


def measure(name: str, clip: Path, repeats: int) -> dict:
    import time

    cpu = {"full": [], "gated": []}
    for _ in range(repeats):
        for decode in cpu:
            started = time.process_time()
            result = minutes_of(clip, decode)
            cpu[decode].append(time.process_time() - started)
            if decode == "full":
                full = result
            else:
                gated = result
    (full_minutes, _), (gated_minutes, report) = full, gated
    frames = report.decoded_frames + report.skipped_frames
    measured = {"frames": frames, "frames_decoded": report.decoded_frames,
                "frames_decoded_share": round(report.decoded_frames / frames, 4),
                "decoded_full_because": report.full_because,
                "full_cpu_s": round(statistics.median(cpu["full"]), 3),
                "gated_cpu_s": round(statistics.median(cpu["gated"]), 3),
                "cpu_ratios": [round(g / f, 3) for f, g in zip(cpu["full"], cpu["gated"])]}
    measured["cpu_ratio"] = round(measured["gated_cpu_s"] / measured["full_cpu_s"], 3)
    measured.update(agreement(full_minutes, gated_minutes))
    return measured


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--day-minutes", type=float, default=20, help="the day's length in minutes of footage")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each decode (medians)")
    args = parser.parse_args(argv)
    if not VTEST.exists():
        print(f"{VTEST} missing: install Debian's opencv-doc for the gated-decode footage", file=sys.stderr)
        return {}
    results = {}
    print(f"{'clip':34} {'frames':>7} {'decoded':>8} {'cpu full':>9} {'gated':>7} {'ratio':>6} {'found':>7} "
          f"{'corr min':>8} {'misses':>6}  fallback")
    for name, clip in clips(args.day_minutes).items():
        r = results[name] = measure(name, clip, args.repeats)
        print(f"{name:34} {r['frames']:7d} {r['frames_decoded_share']:8.1%} {r['full_cpu_s']:9.2f} "
              f"{r['gated_cpu_s']:7.2f} {r['cpu_ratio']:6.3f} {r['intensity_share_found']:7.2%} "
              f"{r['busy_minute_correlation_min'] or 0:8.4f} {len(r['misses']):6d}  {r['decoded_full_because'] or ''}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "gated.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
