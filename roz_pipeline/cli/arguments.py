"""What the commands share: exit codes, the database, period and rectangle arguments, a camera's registry entry and
clip catalog, the bar of a text chart."""

import argparse
import re
from datetime import date, datetime

from roz_pipeline.clips.access import clips_from_settings
from roz_pipeline.core.timesteps import LONGEST_PERIOD, parse_utc
from roz_pipeline.registry import Camera, check_camera_id, load_registry
from roz_pipeline.settings import cameras_file
from roz_pipeline.storage.connection import connect, database_url_or_embedded

EXIT_OK, EXIT_PENDING, EXIT_ERROR = 0, 1, 2
PERIOD_STAMPS = {"minute": "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d"}
LINE_BREAKS = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")  # where str.splitlines (and a terminal) breaks


def one_line(text: str) -> str:
    """`text` with its line breaks written as escapes (`\\n`): an error is one line, even quoting an argument; and
    printable, even quoting bytes of an argument that are not UTF-8 (Python holds them as lone surrogates)."""
    printable = text.strip().encode("utf-8", "backslashreplace").decode("utf-8")
    return LINE_BREAKS.sub(lambda found: repr(found[0])[1:-1], printable)


class OneLineParser(argparse.ArgumentParser):
    """argparse, refusing in one line on stderr (exit code 2) where it prints its usage first: the usage is a
    `--help` away."""

    def error(self, message: str):
        self.exit(EXIT_ERROR, one_line(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n")


def database():
    """A connection to DATABASE_URL, or the embedded PostgreSQL when it is unset (a context manager)."""
    return connect(database_url_or_embedded())


def period_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", type=utc_time, required=True, metavar="T", help="e.g. 2026-11-20T14:00")
    parser.add_argument("--to", dest="end", type=utc_time, required=True, metavar="T", help="exclusive")


def utc_time(text: str) -> datetime:
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def utc_day(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day like 2026-11-20, got {text!r}") from None
    return utc_time(day.isoformat()).date()  # in the years a time may be, so that its next day is too


def up_to(at_most: int):
    """An argparse type: a whole number from 1 to `at_most` (a count of days or weeks to look back)."""
    def whole_number(text: str) -> int:
        digits = text.isascii() and text.isdigit() and len(text) <= len(str(at_most))
        if not digits or not 1 <= int(text) <= at_most:
            raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {at_most}, got {text!r}")
        return int(text)
    return whole_number


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def rectangle(text: str) -> tuple[int, int, int, int]:
    try:
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X0,Y0,X1,Y1 in source pixels, got {text!r}") from None
    return x0, y0, x1, y1


def check_periods(args) -> None:
    """Every --from/--to pair (and --baseline-from/--baseline-to) must end after it starts, within ten years."""
    for start, end, names in (("start", "end", ("--from", "--to")),
                              ("baseline_start", "baseline_end", ("--baseline-from", "--baseline-to"))):
        start, end = getattr(args, start, None), getattr(args, end, None)
        if start and end and end <= start:
            raise ValueError(f"{names[1]} must be after {names[0]}")
        if start and end and end - start > LONGEST_PERIOD:
            raise ValueError(f"{names[0]} to {names[1]}: a period of more than ten years")


def registered(camera_id: str) -> Camera:
    """The camera's registry entry; a camera missing from the registry gets the defaults."""
    registry = load_registry(cameras_file()) if cameras_file().is_file() else {}
    return registry.get(camera_id) or Camera(check_camera_id(camera_id))


def catalog(camera_id: str):
    """The environment's clip store and layout, read for one camera (its registry entry, when there is one)."""
    return clips_from_settings().catalog([registered(camera_id)])


def bar(value: float, peak: float) -> str:
    """A text chart's bar: 40 characters at `peak`."""
    return "#" * round(40 * value / peak)
