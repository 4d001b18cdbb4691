"""The `roz` command. Errors are one line on stderr and a non-zero exit, never a traceback."""

import argparse
import json
import logging
import os
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import psycopg

from roz_pipeline.core.heatmap import compute_heatmap
from roz_pipeline.core.motion import MotionSettings
from roz_pipeline.core.render import render_overlay
from roz_pipeline.core.minutes import FULL_MINUTE_SECONDS
from roz_pipeline.core.aggregate import sum_heatmaps
from roz_pipeline.core.codec import encode_intensity
from roz_pipeline.core.timesteps import MINUTE, floor, runs
from roz_pipeline.clips.stores import ClipStoreError
from roz_pipeline.core.video import ClipError
from roz_pipeline.registry import Camera, check_camera_id, load_registry
from roz_pipeline.settings import cameras_file, clip_layout, clip_timezone, migrations_dir, roz_home
from roz_pipeline.storage.connection import connect, database_url, mask_url
from roz_pipeline.storage.migrations import MigrationError, Migrator, dump_schema
from roz_pipeline.storage.minutes import busiest_hours, uncovered_minutes
from roz_pipeline.storage.rollups import ROLLUP_GRAINS
from roz_pipeline.usecases.insight import activity_timeline, compare_periods, hour_of_day_pattern, write_hourly_csv

EXIT_OK, EXIT_PENDING, EXIT_ERROR = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("roz_pipeline").setLevel(logging.INFO)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_ERROR
    try:
        _check_periods(args)
        return args.run(args)
    except LookupError as exc:  # nothing stored for the question asked
        print(f"roz: {exc.args[0]}", file=sys.stderr)
        return EXIT_PENDING
    except (ClipError, MigrationError, psycopg.Error, OSError, ValueError) as exc:  # RegistryError is a ValueError
        print(f"roz: {mask_url(str(exc)).strip()}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roz", description="Surveillance video -> per-minute motion heatmaps.")
    commands = parser.add_subparsers(title="commands")

    demo = commands.add_parser("demo", help="the whole pipeline on generated footage and the embedded defaults")
    demo.add_argument("--database-url", metavar="URL",
                      help="write the demo's rows to this server instead of an embedded PostgreSQL of its own "
                           "(DATABASE_URL is never used by the demo: it would overwrite a real camera's minutes)")
    demo.set_defaults(run=_demo)

    db = commands.add_parser("db", help="database migrations (same as python db/migrate.py)")
    db.add_argument("--dir", type=Path, help="migrations folder (default: db/migrations or ROZ_MIGRATIONS_DIR)")
    db.add_argument("--lock-wait", type=float, default=120.0, help="seconds to wait for another runner")
    db.set_defaults(run=_db_migrate, dry_run=False)
    db_commands = db.add_subparsers(title="db commands")
    migrate = db_commands.add_parser("migrate", help="apply pending migrations (the default)")
    migrate.add_argument("--dry-run", action="store_true", help="list what would be applied, apply nothing")
    migrate.set_defaults(run=_db_migrate)
    db_commands.add_parser("status", help="applied/pending table; exit 0 up to date, 1 pending, 2 error") \
        .set_defaults(run=_db_status)
    db_commands.add_parser("repair", help="accept edited applied files (record their new checksums)") \
        .set_defaults(run=_db_repair)
    baseline = db_commands.add_parser("baseline", help="mark versions up to VERSION applied without running them")
    baseline.add_argument("version", type=int)
    baseline.set_defaults(run=_db_baseline)
    dump = db_commands.add_parser("dump-schema", help="write the migrated schema (regenerates db/schema.sql)")
    dump.add_argument("--out", type=Path, default=Path("db/schema.sql"))
    dump.set_defaults(run=_db_dump_schema)

    heatmap = commands.add_parser("heatmap", help="heatmaps of clips and stored minutes")
    heatmap_commands = heatmap.add_subparsers(title="heatmap commands")
    compute = heatmap_commands.add_parser(
        "compute", help="one clip -> the row's statistics, optionally its picture; clips -> one row per minute")
    compute.add_argument("clips", type=Path, nargs="+", metavar="CLIP")
    compute.add_argument("--per-minute", action="store_true",
                         help="one row per wall-clock minute the clips cover, each clip starting at --start or at the "
                              "time in its name under ROZ_CLIP_LAYOUT / ROZ_CLIP_TIMEZONE")
    compute.add_argument("--start", type=_utc_time, metavar="T",
                         help="with --per-minute and one clip: when its first frame was recorded (UTC)")
    compute.add_argument("--downscale", type=float, default=MotionSettings.downscale_factor,
                         help="heatmap = source size / N (default %(default)s)")
    compute.add_argument("--ignore", type=_rectangle, action="append", default=[], metavar="X0,Y0,X1,Y1",
                         help="a rectangle in source pixels where motion never counts (repeatable)")
    compute.add_argument("--fast", action="store_true", help="skip the deblocking filter (~20%% faster decode)")
    compute.add_argument("--threads", type=int, default=0, help="decoder threads, 0 = all cores (default)")
    compute.add_argument("--png", type=Path, metavar="OUT", help="write the heatmap over a still of the clip")
    compute.add_argument("--json", action="store_true", help="print JSON with the heatmap_minutes column names")
    compute.set_defaults(run=_heatmap_compute)
    render = heatmap_commands.add_parser("render", help="stored minutes summed over a period, drawn over a still")
    render.add_argument("--camera", required=True)
    _period_arguments(render)
    render.add_argument("--out", type=Path, required=True, metavar="F.png")
    render.set_defaults(run=_heatmap_render)
    compare = heatmap_commands.add_parser(
        "compare", help="where a period's average minute was busier (red) or quieter (blue) than a baseline's")
    compare.add_argument("--camera", required=True)
    _period_arguments(compare)
    compare.add_argument("--baseline-from", dest="baseline_start", type=_utc_time, required=True, metavar="T")
    compare.add_argument("--baseline-to", dest="baseline_end", type=_utc_time, required=True, metavar="T")
    compare.add_argument("--out", type=Path, required=True, metavar="F.png")
    compare.set_defaults(run=_heatmap_compare)

    busiest = commands.add_parser("busiest", help="a camera's UTC hours of one day, busiest first (from its minutes)")
    busiest.add_argument("--camera", required=True)
    busiest.add_argument("--date", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                         help="the UTC day (default: today)")
    busiest.set_defaults(run=_busiest)

    pattern = commands.add_parser("pattern", help="a camera's average minute at one hour of day over the last days, "
                                                   "or its week as a weekday x hour grid (--week)")
    pattern.add_argument("--camera", required=True)
    which = pattern.add_mutually_exclusive_group(required=True)
    which.add_argument("--hour", type=int, choices=range(24), metavar="H", help="UTC hour, 0-23")
    which.add_argument("--week", action="store_true", help="activity per minute by weekday and UTC hour")
    pattern.add_argument("--days", type=int, default=7, help="with --hour: how many days back (default %(default)s)")
    pattern.add_argument("--weeks", type=int, default=4, help="with --week: how many weeks back (default %(default)s)")
    pattern.add_argument("--png", type=Path, metavar="OUT",
                         help="write the picture: the summed pattern over a still, or the week grid with its legend")
    pattern.set_defaults(run=_pattern)

    timeline = commands.add_parser("timeline", help="a camera's activity per rolled-up hour or day, or a region's "
                                                     "per minute, hour or day")
    timeline.add_argument("--camera", required=True)
    _period_arguments(timeline)
    timeline.add_argument("--region", metavar="X0,Y0,X1,Y1|NAME", help="only the activity inside this region")
    timeline.add_argument("--by", choices=("minute", *ROLLUP_GRAINS), default="hour",
                          help="minute needs --region (default %(default)s)")
    timeline.set_defaults(run=_timeline)

    export = commands.add_parser("export", help="CSV of activity per camera per rolled-up hour, or of one camera's "
                                                "region per minute, hour or day")
    export.add_argument("--camera", action="append", help="repeatable (default: every camera in the registry)")
    _period_arguments(export)
    export.add_argument("--region", metavar="X0,Y0,X1,Y1|NAME", help="one camera's region (with one --camera)")
    export.add_argument("--by", choices=("minute", *ROLLUP_GRAINS), default="hour",
                        help="the period of each CSV row; other than hour needs --region (default %(default)s)")
    export.add_argument("--out", type=Path, required=True, metavar="F.csv")
    export.set_defaults(run=_export)

    when = commands.add_parser("when", help="the intervals in which something moved inside a region of a camera")
    when.add_argument("--camera", required=True)
    when.add_argument("--region", required=True, metavar="X0,Y0,X1,Y1|NAME",
                      help="source pixels (as `ignore` rectangles), or a region named in cameras.yaml")
    _period_arguments(when)
    when.add_argument("--min-activity", type=float, default=0.0, metavar="A",
                      help="a minute counts when the region's activity (summed heatmap) exceeds A (default 0)")
    when.add_argument("--sort", choices=("busiest", "time"), default="busiest")
    when.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    when.set_defaults(run=_when)

    materialize = commands.add_parser(
        "materialize", help="a camera's minutes in real Dagster runs on the DAGSTER_HOME instance, an hour per run")
    materialize.add_argument("--camera", required=True)
    _period_arguments(materialize)
    materialize.set_defaults(run=_materialize)

    gaps = commands.add_parser("gaps", help="minutes with no stored row for a camera between two times (UTC): no "
                                            "footage in the store, or footage waiting to be processed")
    gaps.add_argument("--camera", required=True)
    _period_arguments(gaps)
    gaps.set_defaults(run=_gaps)
    return parser


def _period_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", type=_utc_time, required=True, metavar="T", help="e.g. 2026-11-20T14:00")
    parser.add_argument("--to", dest="end", type=_utc_time, required=True, metavar="T", help="exclusive")


def _utc_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a time like 2026-11-20T14:00 (UTC), got {text!r}") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _check_periods(args) -> None:
    """Every --from/--to pair (and --baseline-from/--baseline-to) must end after it starts."""
    for start, end, names in (("start", "end", "--to must be after --from"),
                              ("baseline_start", "baseline_end", "--baseline-to must be after --baseline-from")):
        if getattr(args, start, None) and getattr(args, end, None) and getattr(args, end) <= getattr(args, start):
            raise ValueError(names)


def _gaps(args) -> int:
    from roz_pipeline.defs.resources import clip_source_from_environment  # imports Dagster's resource classes

    start = args.start.replace(second=0, microsecond=0)
    with connect(database_url()) as conn:
        uncovered = uncovered_minutes(conn, args.camera, start, args.end, FULL_MINUTE_SECONDS)
        try:
            waiting = clip_source_from_environment().inventory(conn, [_registered(args.camera)]).waiting_minutes(
                args.camera, start, args.end)
        except ClipStoreError as exc:
            print(f"{exc}: minutes waiting to be processed are counted as missing", file=sys.stderr)
            waiting = set()
    no_row = [m.minute for m in uncovered if not m.covered_seconds]
    missing, pending = [m for m in no_row if m not in waiting], [m for m in no_row if m in waiting]
    ranges = runs(missing, MINUTE)
    for first, last in ranges:
        print(f"{first:%Y-%m-%d %H:%M} - {last:%H:%M} UTC  {_minutes(first, last)} minute(s) missing")
    for first, last in runs(pending, MINUTE):
        print(f"{first:%Y-%m-%d %H:%M} - {last:%H:%M} UTC  {_minutes(first, last)} minute(s) waiting to be processed "
              "(footage in the store)")
    partial = [m for m in uncovered if m.covered_seconds]
    for m in partial:
        print(f"{m.minute:%Y-%m-%d %H:%M} UTC  partly covered: {m.covered_seconds:.1f} s of footage")
    print(f"{len(missing)} missing minute(s) in {len(ranges)} gap(s), {len(pending)} waiting to be processed, "
          f"{len(partial)} partly covered minute(s) for camera {args.camera}")
    return EXIT_PENDING if uncovered else EXIT_OK


def _minutes(first: datetime, last: datetime) -> int:
    return int((last - first).total_seconds() // 60) + 1


def _demo(args) -> int:
    import warnings

    from dagster import BetaWarning, PreviewWarning

    # The demo prints its own progress; the runs' logs stay in the Dagster instance for the UI.
    for category in (BetaWarning, PreviewWarning):
        warnings.filterwarnings("ignore", category=category)
    from roz_pipeline.cli.demo import main as demo_main  # imports Dagster: only for this command

    return demo_main(database_url=args.database_url)


def _materialize(args) -> int:
    from dagster import DagsterInstance, TimeWindow  # imports Dagster: only for this command

    from roz_pipeline.definitions import defs
    from roz_pipeline.defs.keys import minutes_key
    from roz_pipeline.defs.launch import execute_ranges, ranges_in_window

    if not os.environ.get("DAGSTER_HOME"):  # as `roz demo`: a local instance under ROZ_HOME
        os.environ["DAGSTER_HOME"] = str(roz_home() / "dagster")
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    if minutes_key(args.camera) not in defs.resolve_asset_graph().get_all_asset_keys():
        raise ValueError(f"camera {args.camera!r} is not in the registry ({cameras_file()})")
    ranges = ranges_in_window(defs, minutes_key(args.camera), args.camera, TimeWindow(args.start, args.end))
    with DagsterInstance.get() as instance:
        results = []
        for camera_range, result in execute_ranges(ranges, instance):
            print(f"run {result.run_id}: {camera_range.first} .. {camera_range.last} "
                  f"{'succeeded' if result.success else 'FAILED'}")
            results.append(result.success)
    return EXIT_OK if all(results) else EXIT_ERROR


def _rectangle(text: str) -> tuple[int, int, int, int]:
    try:
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X0,Y0,X1,Y1 in source pixels, got {text!r}") from None
    return x0, y0, x1, y1


def _heatmap_compute(args) -> int:
    if args.per_minute:
        return _heatmap_compute_per_minute(args)
    if len(args.clips) > 1 or args.start:
        raise ValueError("several clips, or --start, need --per-minute")
    args.clip = args.clips[0]
    settings = MotionSettings(downscale_factor=args.downscale)
    result = compute_heatmap(args.clip, settings, args.ignore, threads=args.threads, fast=args.fast)
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
        print(f"roz: {args.clip}: damaged clip, kept the decodable frames: {result.damage}", file=sys.stderr)
    return EXIT_OK


def _heatmap_compute_per_minute(args) -> int:
    from roz_pipeline.clips.layout import ClipLayout, ClipRef, clip_start_from_path
    from roz_pipeline.clips.stores import LocalClipStore
    from roz_pipeline.usecases.processing import read_minutes

    layout = ClipLayout.from_setting(clip_layout(), clip_timezone())
    if args.start and len(args.clips) > 1:
        raise ValueError("--start names one clip's start; several clips take theirs from their names")
    refs = sorted((ClipRef(str(path.resolve()), "cli", args.start or clip_start_from_path(layout, path), str(path))
                   for path in args.clips), key=lambda clip: (clip.start, clip.key))
    first = floor(refs[0].start, MINUTE)
    end = floor(refs[-1].start, MINUTE) + layout.longest_clip + MINUTE
    camera = Camera("cli", downscale_factor=args.downscale, ignore=tuple(args.ignore))
    footage = list(read_minutes(refs, LocalClipStore(Path.cwd()), camera, first, end))
    by_key = {clip.key: clip.location for clip in refs}
    rows = [{
        "timestamp": f.minute.isoformat(), "video_path": by_key[f.first_source], "frame_count": f.frame_count,
        "covered_seconds": round(f.covered_seconds, 2), "total_intensity": float(f.heatmap.sum(dtype=np.float64)),
        "max_intensity": float(f.heatmap.max()), "nonzero_pixels": int(np.count_nonzero(f.heatmap)),
        "height": f.heatmap.shape[0], "width": f.heatmap.shape[1],
        "compressed_bytes": len(encode_intensity(f.heatmap)), "clips": [by_key[k] for k in f.sources],
        "problems": {by_key[k]: problem for k, problem in f.problems.items()},
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
            print(f"{row['timestamp'][:16].replace('T', ' '):16}  {row['frame_count']:6d}  {row['covered_seconds']:7.1f}"
                  f"  {row['total_intensity']:15.1f}  {row['nonzero_pixels']:7d}  {', '.join(row['clips'])}")
    for f in footage:
        for key, problem in f.problems.items():
            print(f"roz: {f.minute:%Y-%m-%d %H:%M}: {by_key[key]}: {problem}", file=sys.stderr)
    return EXIT_ERROR if bad and not rows else EXIT_OK


def _heatmap_render(args) -> int:
    from roz_pipeline.usecases.pictures import render_period

    with connect(database_url()) as conn:
        picture = render_period(conn, _catalog(args.camera), args.camera, args.start, args.end)
    args.out.write_bytes(picture.png)
    still = f"over a still of {picture.still_from}" if picture.still_from else "without a still (no clip readable)"
    print(f"wrote {args.out}: {picture.minutes} minute(s) of {args.camera} summed, {still}")
    if picture.skipped:
        print(f"left out {picture.skipped} minute(s) stored at another heatmap size", file=sys.stderr)
    return EXIT_OK


def _heatmap_compare(args) -> int:
    from roz_pipeline.usecases.pictures import render_comparison

    with connect(database_url()) as conn:
        comparison = compare_periods(conn, args.camera, (args.baseline_start, args.baseline_end),
                                     (args.start, args.end))
    picture = render_comparison(_catalog(args.camera), comparison)
    args.out.write_bytes(picture.png)
    pixels = comparison.difference.size
    print(f"wrote {args.out}: {args.camera}, {comparison.period.minutes} minute(s) against a baseline of "
          f"{comparison.baseline.minutes} minute(s)")
    change = comparison.activity_change
    change_text = f"{change:+.0%}" if change is not None else "up from none (the baseline had no motion)"
    print(f"activity per minute {change_text}; busier in {comparison.rose_pixels / pixels:.1%} "
          f"of the picture, quieter in {comparison.fell_pixels / pixels:.1%}")
    return EXIT_OK


def _busiest(args) -> int:
    day = args.date or datetime.now(timezone.utc).date()
    with connect(database_url()) as conn:
        hours = busiest_hours(conn, args.camera, day)
    if not hours:
        print(f"roz: camera {args.camera} has no stored minute on {day} (UTC)", file=sys.stderr)
        return EXIT_PENDING
    for hour, activity in hours:
        print(f"{hour:%Y-%m-%d %H:00} UTC  {activity:14.1f}")
    return EXIT_OK


def _week_pattern(args) -> int:
    from roz_pipeline.core.render import WEEKDAYS, render_week
    from roz_pipeline.usecases.insight import week_pattern

    with connect(database_url()) as conn:
        week = week_pattern(conn, args.camera, datetime.now(timezone.utc), args.weeks)
    if not week.minutes.any():
        print(f"roz: camera {args.camera} has no rolled-up hour in the last {args.weeks} week(s)", file=sys.stderr)
        return EXIT_PENDING
    busiest = np.unravel_index(np.nanargmax(week.per_minute), week.per_minute.shape)
    print(f"camera {args.camera}, {week.start:%Y-%m-%d} to {week.end:%Y-%m-%d %H:00} UTC: "
          f"{int(week.minutes.sum())} minute(s) in {int((week.minutes > 0).sum())} of 168 weekday-hours; busiest "
          f"{WEEKDAYS[busiest[0]]} {busiest[1]:02d}:00 UTC ({week.per_minute[busiest]:.1f} per minute)")
    if args.png:
        args.png.write_bytes(render_week(week.per_minute))
        print(f"wrote {args.png}")
    return EXIT_OK


def _pattern(args) -> int:
    if args.week:
        return _week_pattern(args)
    now = datetime.now(timezone.utc)
    with connect(database_url()) as conn:
        pattern = hour_of_day_pattern(conn, args.camera, args.hour, args.days, now)
    average = pattern.per_minute
    print(f"camera {args.camera}, {args.hour:02d}:00-{args.hour:02d}:59 UTC over the last {args.days} day(s): "
          f"{pattern.minutes} minute(s) from the hour rollups")
    print(f"average minute: total_intensity {average.sum(dtype=np.float64):.1f}, moving pixels "
          f"{np.count_nonzero(average)} of {average.size}, max {average.max():.2f}")
    if args.png:
        from roz_pipeline.usecases.pictures import camera_still, render_summed

        still, _ = camera_still(_catalog(args.camera), args.camera, pattern.first_minute)
        args.png.write_bytes(render_summed(pattern, still))
        print(f"wrote {args.png}")
    return EXIT_OK


def _timeline(args) -> int:
    if args.region:
        return _region_timeline(args)
    if args.by == "minute":
        raise ValueError("--by minute needs --region (whole-camera timelines come from the hour and day rollups)")
    with connect(database_url()) as conn:
        periods = activity_timeline(conn, args.camera, args.start, args.end, args.by)
    if not periods:
        print(f"roz: camera {args.camera} has no rolled-up {args.by} in that period", file=sys.stderr)
        return EXIT_PENDING
    peak = max(p.total_intensity / p.minutes_covered for p in periods) or 1.0
    stamp = "%Y-%m-%d %H:00" if args.by == "hour" else "%Y-%m-%d"
    for p in periods:
        per_minute = p.total_intensity / p.minutes_covered
        print(f"{p.period_start:{stamp}}  {p.minutes_covered:4d} min  {per_minute:10.1f}/min  "
              f"{'#' * round(40 * per_minute / peak)}")
    return EXIT_OK


PERIOD_STAMPS = {"minute": "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d"}


def _region_timeline(args) -> int:
    from roz_pipeline.usecases.regions import region_timeline

    with connect(database_url()) as conn:
        periods, answer = region_timeline(conn, _registered(args.camera), args.region, args.start, args.end, args.by)
    if not periods:
        print(f"roz: camera {args.camera} has no stored minute in that period", file=sys.stderr)
        return EXIT_PENDING
    peak = max(p.activity / p.minutes for p in periods) or 1.0
    for p in periods:
        per_minute = p.activity / p.minutes
        print(f"{p.start:{PERIOD_STAMPS[args.by]}}  {p.minutes:4d} min  "
              f"{per_minute:10.1f}/min  {'#' * round(40 * per_minute / peak)}")
    _region_notes(answer)
    return EXIT_OK


def _region_notes(answer) -> None:
    for at, before, after in answer.downscale_changes:
        print(f"note: the downscale factor changed from {before:g} to {after:g} at {at:%Y-%m-%d %H:%M} UTC: "
              "activity before and after is measured on different grids", file=sys.stderr)
    for note in answer.notes:
        print(f"note: {note}", file=sys.stderr)


def _export(args) -> int:
    if args.region:
        return _region_export(args)
    if args.by != "hour":
        raise ValueError("--by minute or day needs --region (the all-camera export is per rolled-up hour)")
    cameras = args.camera or list(load_registry(cameras_file()))
    with connect(database_url()) as conn, args.out.open("w", newline="") as out:
        count = write_hourly_csv(conn, cameras, args.start, args.end, out)
    print(f"wrote {args.out}: {count} camera-hour(s) of {', '.join(cameras)}")
    return EXIT_OK


def _region_export(args) -> int:
    import csv

    from roz_pipeline.usecases.regions import region_timeline

    if not args.camera or len(args.camera) != 1:
        raise ValueError("--region needs exactly one --camera")
    (camera_id,) = args.camera
    with connect(database_url()) as conn:
        periods, answer = region_timeline(conn, _registered(camera_id), args.region, args.start, args.end, args.by)
    with args.out.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["camera_id", "region", f"{args.by}_utc", "minutes", "activity", "activity_per_minute"])
        for p in periods:
            writer.writerow([camera_id, answer.region, p.start.strftime("%Y-%m-%dT%H:%M:%SZ"), p.minutes,
                             f"{p.activity:.1f}", f"{p.activity / p.minutes:.1f}"])
    _region_notes(answer)
    print(f"wrote {args.out}: {len(periods)} {args.by}(s) of region {answer.region} of camera {camera_id}")
    return EXIT_OK


def _when(args) -> int:
    from roz_pipeline.clips.layout import ClipLayout, LayoutError
    from roz_pipeline.usecases.regions import when

    camera = _registered(args.camera)
    with connect(database_url()) as conn:
        answer = when(conn, camera, args.region, args.start, args.end, args.min_activity)
    if not answer.minutes_with_data:
        print(f"roz: camera {args.camera} has no stored minute between {args.start:%Y-%m-%d %H:%M} and "
              f"{args.end:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
        return EXIT_PENDING
    layout = ClipLayout.from_setting(clip_layout(), clip_timezone())
    intervals = sorted(answer.intervals, key=lambda i: -i.activity) if args.sort == "busiest" else answer.intervals
    found = []
    for interval in intervals:
        clips = answer.clips.get(interval.start, [])
        opening = None
        if clips:
            try:
                offset = max(0.0, (interval.start - layout.parse(clips[0]).start).total_seconds())
            except LayoutError:
                offset = None
            opening = {"clip": clips[0], "offset_seconds": offset}
        found.append((interval, clips, opening))
    region = f"{answer.region} ({','.join(map(str, answer.rectangle))})" if answer.region in camera.regions \
        else answer.region
    source = "the region series" if answer.from_series else "the minute arrays"
    if args.json:
        print(json.dumps({
            "camera": answer.camera_id, "region": answer.region, "rectangle": list(answer.rectangle),
            "from": args.start.isoformat(), "to": args.end.isoformat(), "min_activity": args.min_activity,
            "stored_minutes": answer.minutes_with_data, "read_from": source, "notes": answer.notes,
            "downscale_changes": [{"at": at.isoformat(), "from": before, "to": after}
                                  for at, before, after in answer.downscale_changes],
            "intervals": [{"start": i.start.isoformat(), "end": i.end.isoformat(), "minutes": i.minutes,
                           "activity": i.activity, "peak_minute": i.peak_minute.isoformat(),
                           "peak_activity": i.peak_activity, "clips": clips, "open": opening}
                          for i, clips, opening in found]}, indent=2))
        return EXIT_OK
    for interval, _, opening in found:
        where = ""
        if opening:
            at = "" if opening["offset_seconds"] is None else f" at +{int(opening['offset_seconds']) // 60}:" \
                 f"{int(opening['offset_seconds']) % 60:02d}"
            where = f"  open {opening['clip']}{at}"
        print(f"{interval.start:%Y-%m-%d %H:%M} - {interval.end:%H:%M} UTC  {interval.minutes:4d} min  "
              f"activity {interval.activity:12.1f}  peak {interval.peak_minute:%H:%M}{where}")
    _region_notes(answer)
    print(f"{len(found)} interval(s) with motion in region {region} of camera {args.camera} "
          f"({answer.minutes_with_data} stored minute(s), read from {source})")
    return EXIT_OK


def _registered(camera_id: str) -> Camera:
    """The camera's registry entry; a camera missing from the registry gets the defaults."""
    registry = load_registry(cameras_file()) if cameras_file().is_file() else {}
    return registry.get(camera_id) or Camera(check_camera_id(camera_id))


def _catalog(camera_id: str):
    """The environment's clip store and layout, read for one camera (its registry entry, when there is one)."""
    from roz_pipeline.defs.resources import clip_source_from_environment  # imports Dagster's resource classes

    return clip_source_from_environment().catalog([_registered(camera_id)])


def _migrator(args) -> Migrator:
    return Migrator(database_url(), args.dir or migrations_dir(), lock_wait_seconds=args.lock_wait)


def _db_migrate(args) -> int:
    migrator = _migrator(args)
    if args.dry_run:
        pending = migrator.pending()
        for migration in pending:
            print(f"would apply {migration.filename}")
        print(f"{len(pending)} pending migration(s); nothing applied (dry run)")
        return EXIT_OK
    applied = migrator.migrate()
    target = mask_url(migrator.url)
    print(f"applied {len(applied)} migration(s) to {target}" if applied else f"{target} is up to date")
    return EXIT_OK


def _db_status(args) -> int:
    migrator = _migrator(args)
    states = migrator.status()
    print(f"database: {mask_url(migrator.url)}")
    print(f"{'version':>7}  {'state':8}  {'applied at (UTC)':19}  file")
    for s in states:
        when = s.applied_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if s.applied_at else "-"
        print(f"{s.version:>7}  {s.state:8}  {when:19}  {s.filename}")
    if any(s.state in ("edited", "missing") for s in states):
        print("applied migrations differ from the files: restore them, or run 'repair'", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_PENDING if any(s.state == "pending" for s in states) else EXIT_OK


def _db_repair(args) -> int:
    realigned = _migrator(args).repair()
    print(f"realigned {len(realigned)} checksum(s): {', '.join(realigned)}" if realigned else "nothing to repair")
    return EXIT_OK


def _db_baseline(args) -> int:
    marked = _migrator(args).baseline(args.version)
    print(f"marked {len(marked)} migration(s) as applied without running them")
    return EXIT_OK


def _db_dump_schema(args) -> int:
    args.out.write_text(dump_schema(database_url()))
    print(f"wrote {args.out}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
