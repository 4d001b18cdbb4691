"""`roz busiest`, `pattern`, `timeline`, `export`, `gaps`: questions about a camera's stored history."""

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from roz_pipeline.cli.arguments import (
    EXIT_OK,
    EXIT_PENDING,
    bar,
    catalog,
    database,
    period_arguments,
    registered,
    up_to,
    utc_day,
)
from roz_pipeline.cli.regions import export_region, print_region_timeline
from roz_pipeline.clips.access import clips_from_settings
from roz_pipeline.clips.stores import ClipStoreError
from roz_pipeline.core.render import WEEKDAYS, render_week
from roz_pipeline.core.timesteps import MINUTE, floor
from roz_pipeline.registry import load_registry
from roz_pipeline.settings import cameras_file
from roz_pipeline.storage.minutes import busiest_hours
from roz_pipeline.storage.rollups import ROLLUP_GRAINS
from roz_pipeline.usecases.coverage import coverage, minutes_in
from roz_pipeline.usecases.insight import activity_timeline, hour_of_day_pattern, week_pattern, write_hourly_csv
from roz_pipeline.usecases.pictures import camera_still, render_summed

GAPS_LONGEST = timedelta(days=366)  # a year of minutes (527,040) is the most one listing holds


def register(commands) -> None:
    busiest = commands.add_parser("busiest", help="a camera's UTC hours of one day, busiest first (from its minutes)")
    busiest.add_argument("--camera", required=True)
    busiest.add_argument("--date", type=utc_day, default=None, metavar="YYYY-MM-DD",
                         help="the UTC day (default: today)")
    busiest.set_defaults(run=_busiest)

    pattern = commands.add_parser("pattern", help="a camera's average minute at one hour of day over the last days, "
                                                   "or its week as a weekday x hour grid (--week)")
    pattern.add_argument("--camera", required=True)
    which = pattern.add_mutually_exclusive_group(required=True)
    which.add_argument("--hour", type=int, choices=range(24), metavar="H", help="UTC hour, 0-23")
    which.add_argument("--week", action="store_true", help="activity per minute by weekday and UTC hour")
    pattern.add_argument("--days", type=up_to(36_500), default=7,
                         help="with --hour: how many days back (default %(default)s)")
    pattern.add_argument("--weeks", type=up_to(5_200), default=4,
                         help="with --week: how many weeks back (default %(default)s)")
    pattern.add_argument("--png", type=Path, metavar="OUT",
                         help="write the picture: the summed pattern over a still, or the week grid with its legend")
    pattern.set_defaults(run=_pattern)

    timeline = commands.add_parser("timeline", help="a camera's activity per rolled-up hour or day, or a region's "
                                                     "per minute, hour or day")
    timeline.add_argument("--camera", required=True)
    period_arguments(timeline)
    timeline.add_argument("--region", metavar="X0,Y0,X1,Y1|NAME", help="only the activity inside this region")
    timeline.add_argument("--by", choices=("minute", *ROLLUP_GRAINS), default="hour",
                          help="minute needs --region (default %(default)s)")
    timeline.set_defaults(run=_timeline)

    export = commands.add_parser("export", help="CSV of activity per camera per rolled-up hour, or of one camera's "
                                                "region per minute, hour or day")
    export.add_argument("--camera", action="append", help="repeatable (default: every camera in the registry)")
    period_arguments(export)
    export.add_argument("--region", metavar="X0,Y0,X1,Y1|NAME", help="one camera's region (with one --camera)")
    export.add_argument("--by", choices=("minute", *ROLLUP_GRAINS), default="hour",
                        help="the period of each CSV row; other than hour needs --region (default %(default)s)")
    export.add_argument("--out", type=Path, required=True, metavar="F.csv")
    export.set_defaults(run=_export)

    gaps = commands.add_parser("gaps", help="minutes with no stored row for a camera between two times (UTC): no "
                                            "footage in the store, or footage waiting to be processed")
    gaps.add_argument("--camera", required=True)
    period_arguments(gaps)
    gaps.set_defaults(run=_gaps)


def _busiest(args) -> int:
    day = args.date or datetime.now(timezone.utc).date()
    with database() as conn:
        hours = busiest_hours(conn, args.camera, day)
    if not hours:
        print(f"roz: camera {args.camera} has no stored minute on {day} (UTC)", file=sys.stderr)
        return EXIT_PENDING
    for hour, activity in hours:
        print(f"{hour:%Y-%m-%d %H:00} UTC  {activity:14.1f}")
    return EXIT_OK


def _week_pattern(args) -> int:
    with database() as conn:
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
    with database() as conn:
        pattern = hour_of_day_pattern(conn, args.camera, args.hour, args.days, now)
    average = pattern.per_minute
    print(f"camera {args.camera}, {args.hour:02d}:00-{args.hour:02d}:59 UTC over the last {args.days} day(s): "
          f"{pattern.minutes} minute(s) from the hour rollups")
    print(f"average minute: total_intensity {average.sum(dtype=np.float64):.1f}, moving pixels "
          f"{np.count_nonzero(average)} of {average.size}, max {average.max():.2f}")
    if args.png:
        still, _ = camera_still(catalog(args.camera), args.camera, pattern.first_minute)
        args.png.write_bytes(render_summed(pattern, still))
        print(f"wrote {args.png}")
    return EXIT_OK


def _timeline(args) -> int:
    if args.region:
        return print_region_timeline(args)
    if args.by == "minute":
        raise ValueError("--by minute needs --region (whole-camera timelines come from the hour and day rollups)")
    with database() as conn:
        periods = activity_timeline(conn, args.camera, args.start, args.end, args.by)
    if not periods:
        print(f"roz: camera {args.camera} has no rolled-up {args.by} in that period", file=sys.stderr)
        return EXIT_PENDING
    peak = max(p.total_intensity / p.minutes_covered for p in periods) or 1.0
    stamp = "%Y-%m-%d %H:00" if args.by == "hour" else "%Y-%m-%d"
    for p in periods:
        per_minute = p.total_intensity / p.minutes_covered
        print(f"{p.period_start:{stamp}}  {p.minutes_covered:4d} min  {per_minute:10.1f}/min  "
              f"{bar(per_minute, peak)}")
    return EXIT_OK


def _export(args) -> int:
    if args.region:
        return export_region(args)
    if args.by != "hour":
        raise ValueError("--by minute or day needs --region (the all-camera export is per rolled-up hour)")
    cameras = args.camera or list(load_registry(cameras_file()))
    with database() as conn, args.out.open("w", newline="") as out:
        count = write_hourly_csv(conn, cameras, args.start, args.end, out)
    print(f"wrote {args.out}: {count} camera-hour(s) of {', '.join(cameras)}")
    return EXIT_OK


def _gaps(args) -> int:
    start, camera = floor(args.start, MINUTE), registered(args.camera)
    if args.end - start > GAPS_LONGEST:
        raise ValueError(f"gaps are listed minute by minute: at most {GAPS_LONGEST.days} days at a time")
    with database() as conn:
        try:
            waiting = clips_from_settings().inventory(conn, [camera]).waiting_minutes(args.camera, start, args.end)
        except ClipStoreError as exc:
            print(f"{exc}: minutes waiting to be processed are counted as missing", file=sys.stderr)
            waiting = set()
        found = coverage(conn, camera, start, args.end, waiting)
    for first, last in found.gaps:
        print(f"{first:%Y-%m-%d %H:%M} - {last:%H:%M} UTC  {minutes_in(first, last)} minute(s) missing")
    for first, last in found.waiting_ranges:
        print(f"{first:%Y-%m-%d %H:%M} - {last:%H:%M} UTC  {minutes_in(first, last)} minute(s) waiting to be "
              "processed (footage in the store)")
    for m in [] if camera.motion_only else found.partial:
        print(f"{m.minute:%Y-%m-%d %H:%M} UTC  partly covered: {m.covered_seconds:.1f} s of footage")
    print(f"{len(found.missing)} missing minute(s) in {len(found.gaps)} gap(s), {len(found.waiting)} waiting to be "
          f"processed, {len(found.partial)} partly covered minute(s) for camera {args.camera}")
    if camera.motion_only:
        print(f"{len(found.quiet)} quiet minute(s): camera {args.camera} records only motion (registry `recording: "
              "motion`), so a minute without clips is one in which nothing moved")
    return EXIT_OK if found.complete else EXIT_PENDING
