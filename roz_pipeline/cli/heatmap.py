"""`roz heatmap`: a clip's heatmap (or its minutes'), and stored minutes as pictures."""

import dataclasses
import json
import sys
from pathlib import Path

from roz_pipeline.cli.arguments import (
    EXIT_ERROR,
    EXIT_OK,
    catalog,
    database,
    one_line,
    period_arguments,
    rectangle,
    utc_time,
)
from roz_pipeline.clips.layout import ClipLayout, clip_start_from_path
from roz_pipeline.clips.stores import ClipRef, LocalClipStore
from roz_pipeline.core.aggregate import sum_heatmaps
from roz_pipeline.core.codec import encode_intensity
from roz_pipeline.core.gate import DECODE_MODES
from roz_pipeline.core.heatmap import compute_heatmap
from roz_pipeline.core.motion import MotionSettings
from roz_pipeline.core.render import render_overlay
from roz_pipeline.core.statistics import statistics_of
from roz_pipeline.core.timesteps import MINUTE, floor
from roz_pipeline.registry import Camera
from roz_pipeline.settings import clip_layout, clip_timezone
from roz_pipeline.usecases.insight import compare_periods
from roz_pipeline.usecases.pictures import render_comparison, render_period
from roz_pipeline.usecases.processing import read_minutes


def register(commands) -> None:
    heatmap = commands.add_parser("heatmap", help="heatmaps of clips and stored minutes")
    heatmap_commands = heatmap.add_subparsers(title="heatmap commands")
    compute = heatmap_commands.add_parser(
        "compute", help="one clip -> the row's statistics, optionally its picture; clips -> one row per minute")
    compute.add_argument("clips", type=Path, nargs="+", metavar="CLIP")
    compute.add_argument("--per-minute", action="store_true",
                         help="one row per wall-clock minute the clips cover, each clip starting at --start or at the "
                              "time in its name under ROZ_CLIP_LAYOUT / ROZ_CLIP_TIMEZONE")
    compute.add_argument("--start", type=utc_time, metavar="T",
                         help="with --per-minute and one clip: when its first frame was recorded (UTC)")
    compute.add_argument("--downscale", type=float, default=MotionSettings.downscale_factor,
                         help="heatmap = source size / N (default %(default)s)")
    compute.add_argument("--ignore", type=rectangle, action="append", default=[], metavar="X0,Y0,X1,Y1",
                         help="a rectangle in source pixels where motion never counts (repeatable)")
    compute.add_argument("--fast", action="store_true",
                         help="skip the deblocking filter: 5-12%% less CPU in bench/extract.py's runs, a map "
                              "correlating 0.9998 with the full decode's")
    compute.add_argument("--threads", type=int, default=0, help="decoder threads, 0 = all cores (default)")
    compute.add_argument("--decode", choices=DECODE_MODES, default="full",
                         help="full: every frame (default); gated: skip the groups of pictures in which nothing "
                              "moved, judged from their packet sizes (the registry's `decode`)")
    compute.add_argument("--png", type=Path, metavar="OUT", help="write the heatmap over a still of the clip")
    compute.add_argument("--json", action="store_true", help="print JSON with the heatmap_minutes column names")
    compute.set_defaults(run=_heatmap_compute)
    render = heatmap_commands.add_parser("render", help="stored minutes summed over a period, drawn over a still")
    render.add_argument("--camera", required=True)
    period_arguments(render)
    render.add_argument("--out", type=Path, required=True, metavar="F.png")
    render.set_defaults(run=_heatmap_render)
    compare = heatmap_commands.add_parser(
        "compare", help="where a period's average minute was busier (red) or quieter (blue) than a baseline's")
    compare.add_argument("--camera", required=True)
    period_arguments(compare)
    compare.add_argument("--baseline-from", dest="baseline_start", type=utc_time, required=True, metavar="T")
    compare.add_argument("--baseline-to", dest="baseline_end", type=utc_time, required=True, metavar="T")
    compare.add_argument("--out", type=Path, required=True, metavar="F.png")
    compare.set_defaults(run=_heatmap_compare)


def _heatmap_compute(args) -> int:
    if args.per_minute:
        return _heatmap_compute_per_minute(args)
    if len(args.clips) > 1 or args.start:
        raise ValueError("several clips, or --start, need --per-minute")
    args.clip = args.clips[0]
    settings = MotionSettings(downscale_factor=args.downscale)
    result = compute_heatmap(args.clip, settings, args.ignore, threads=args.threads, fast=args.fast,
                             decode=args.decode)
    summary = result.summary()
    if args.png:
        args.png.write_bytes(render_overlay(result.heatmap, result.still))
        summary["png"] = str(args.png)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:>22}: {value}")
    if result.damage:
        print(one_line(f"roz: {args.clip}: damaged clip, kept the decodable frames: {result.damage}"), file=sys.stderr)
    return EXIT_OK


def _heatmap_compute_per_minute(args) -> int:
    layout = ClipLayout.from_setting(clip_layout(), clip_timezone())
    if args.start and len(args.clips) > 1:
        raise ValueError("--start names one clip's start; several clips take theirs from their names")
    refs = sorted((ClipRef(str(path.resolve()), "cli", args.start or clip_start_from_path(layout, path), str(path))
                   for path in args.clips), key=lambda clip: (clip.start, clip.key))
    first = floor(refs[0].start, MINUTE)
    end = floor(refs[-1].start, MINUTE) + layout.longest_clip + MINUTE
    camera = Camera("cli", downscale_factor=args.downscale, ignore=tuple(args.ignore), decode=args.decode)
    footage = list(read_minutes(refs, LocalClipStore(Path.cwd()), camera, first, end))
    by_key = {clip.key: clip.video_path for clip in refs}
    rows = [{
        "timestamp": f.minute.isoformat(), "video_path": by_key[f.first_clip], "frame_count": f.frame_count,
        "covered_seconds": round(f.covered_seconds, 2), **dataclasses.asdict(statistics_of(f.heatmap)),
        "height": f.heatmap.shape[0], "width": f.heatmap.shape[1],
        "compressed_bytes": len(encode_intensity(f.heatmap)), "clips": [by_key[k] for k in f.clips],
        "problems": {by_key[k]: problem for k, problem in f.problems.items()},
        "frames_decoded": sum(f.decoded.values()), "frames_decoded_because": f.decoded,
        "decoded_full_because": {by_key[k]: reason for k, reason in f.decoded_full.items()},
    } for f in footage if f.frame_count]
    bad = [f for f in footage if not f.frame_count]
    if args.png and rows:
        total = sum_heatmaps([f for f in footage if f.frame_count]).total
        args.png.write_bytes(render_overlay(total, next(f.still for f in footage if f.still is not None)))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'minute (UTC)':16}  {'frames':>6}  {'seconds':>7}  {'total_intensity':>15}  {'nonzero':>7}  clips")
        for row in rows:
            print(f"{row['timestamp'][:16].replace('T', ' '):16}  {row['frame_count']:6d}"
                  f"  {row['covered_seconds']:7.1f}  {row['total_intensity']:15.1f}  {row['nonzero_pixels']:7d}"
                  f"  {', '.join(row['clips'])}")
    for f in footage:
        for key, problem in f.problems.items():
            print(one_line(f"roz: {f.minute:%Y-%m-%d %H:%M}: {by_key[key]}: {problem}"), file=sys.stderr)
    return EXIT_ERROR if bad and not rows else EXIT_OK


def _heatmap_render(args) -> int:
    with database() as conn:
        picture = render_period(conn, catalog(args.camera), args.camera, args.start, args.end)
    args.out.write_bytes(picture.png)
    still = f"over a still of {picture.still_from}" if picture.still_from else "without a still (no clip readable)"
    print(f"wrote {args.out}: {picture.minutes} minute(s) of {args.camera} summed, {still}")
    if picture.skipped:
        print(f"left out {picture.skipped} minute(s) stored at another heatmap size", file=sys.stderr)
    return EXIT_OK


def _heatmap_compare(args) -> int:
    with database() as conn:
        comparison = compare_periods(conn, args.camera, (args.baseline_start, args.baseline_end),
                                     (args.start, args.end))
    picture = render_comparison(catalog(args.camera), comparison)
    args.out.write_bytes(picture.png)
    pixels = comparison.difference.size
    print(f"wrote {args.out}: {args.camera}, {comparison.period.minutes} minute(s) against a baseline of "
          f"{comparison.baseline.minutes} minute(s)")
    change = comparison.activity_change
    change_text = f"{change:+.0%}" if change is not None else "up from none (the baseline had no motion)"
    print(f"activity per minute {change_text}; busier in {comparison.rose_pixels / pixels:.1%} "
          f"of the picture, quieter in {comparison.fell_pixels / pixels:.1%}")
    return EXIT_OK
