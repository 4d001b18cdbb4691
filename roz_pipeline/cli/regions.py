"""`roz when`, and the region forms of `timeline` and `export`: where and when something moved."""

import json
import sys

from roz_pipeline.cli.arguments import (
    EXIT_OK,
    EXIT_PENDING,
    PERIOD_STAMPS,
    bar,
    database,
    period_arguments,
    positive,
    registered,
)
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.settings import clip_layout, clip_timezone
from roz_pipeline.usecases.regions import answer_document, region_question, region_timeline, write_region_csv


def register(commands) -> None:
    when = commands.add_parser("when", help="the intervals in which something moved inside a region of a camera")
    when.add_argument("--camera", required=True)
    when.add_argument("--region", required=True, metavar="X0,Y0,X1,Y1|NAME",
                      help="source pixels (as `ignore` rectangles), or a region named in cameras.yaml")
    period_arguments(when)
    when.add_argument("--min-activity", type=float, default=0.0, metavar="A",
                      help="a minute counts when the region's activity (summed heatmap) exceeds A (default 0)")
    when.add_argument("--sort", choices=("busiest", "time"), default="busiest")
    when.add_argument("--limit", type=positive, metavar="N", help="list only the first N intervals (as sorted)")
    when.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    when.set_defaults(run=_when)


def _when(args) -> int:
    camera = registered(args.camera)
    layout = ClipLayout.from_setting(clip_layout(), clip_timezone())
    with database() as conn:
        answer, found = region_question(conn, camera, args.region, args.start, args.end, layout, args.min_activity,
                                        args.sort, args.limit)
    if not answer.minutes_with_data:
        print(f"roz: camera {args.camera} has no stored minute between {args.start:%Y-%m-%d %H:%M} and "
              f"{args.end:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
        return EXIT_PENDING
    if args.json:
        print(json.dumps(answer_document(answer, found, args.start, args.end, args.min_activity), indent=2))
        return EXIT_OK
    for interval, to_open in ((f.interval, f.to_open) for f in found):
        where = ""
        if to_open:
            offset = to_open.offset_seconds
            at = "" if offset is None else f" at +{int(offset) // 60}:{int(offset) % 60:02d}"
            where = f"  open {to_open.clip}{at}"
        print(f"{interval.start:%Y-%m-%d %H:%M} - {interval.end:%H:%M} UTC  {interval.minutes:4d} min  "
              f"activity {interval.activity:12.1f}  peak {interval.peak_minute:%H:%M}{where}")
    _region_notes(answer)
    region = f"{answer.region} ({','.join(map(str, answer.rectangle))})" if answer.region in camera.regions \
        else answer.region
    listed = f"{len(found)} of {len(answer.intervals)}" if len(found) < len(answer.intervals) else len(found)
    print(f"{listed} interval(s) with motion in region {region} of camera {args.camera} "
          f"({answer.minutes_with_data} stored minute(s), read from {answer.read_from})")
    return EXIT_OK


def print_region_timeline(args) -> int:
    """`roz timeline --region`: the region's activity per minute, hour or day, as a text chart."""
    with database() as conn:
        periods, answer = region_timeline(conn, registered(args.camera), args.region, args.start, args.end, args.by)
    if not periods:
        print(f"roz: camera {args.camera} has no stored minute in that period", file=sys.stderr)
        return EXIT_PENDING
    peak = max(p.activity / p.minutes for p in periods) or 1.0
    for p in periods:
        per_minute = p.activity / p.minutes
        print(f"{p.start:{PERIOD_STAMPS[args.by]}}  {p.minutes:4d} min  "
              f"{per_minute:10.1f}/min  {bar(per_minute, peak)}")
    _region_notes(answer)
    return EXIT_OK


def export_region(args) -> int:
    """`roz export --region`: the region's activity per minute, hour or day, as CSV."""
    if not args.camera or len(args.camera) != 1:
        raise ValueError("--region needs exactly one --camera")
    (camera_id,) = args.camera
    with database() as conn:
        periods, answer = region_timeline(conn, registered(camera_id), args.region, args.start, args.end, args.by)
    with args.out.open("w", newline="") as out:
        write_region_csv(out, answer, periods, args.by)
    _region_notes(answer)
    print(f"wrote {args.out}: {len(periods)} {args.by}(s) of region {answer.region} of camera {camera_id}")
    return EXIT_OK


def _region_notes(answer) -> None:
    for at, before, after in answer.downscale_changes:
        print(f"note: the downscale factor changed from {before:g} to {after:g} at {at:%Y-%m-%d %H:%M} UTC: "
              "activity before and after is measured on different grids", file=sys.stderr)
    for note in answer.notes:
        print(f"note: {note}", file=sys.stderr)
