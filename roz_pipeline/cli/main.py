"""The `roz` command: each command group registers its sub-commands (db, heatmap, insight, regions, runs, explore).
Errors are one line on stderr and a non-zero exit, never a traceback."""

import logging
import signal
import sys

import psycopg

from roz_pipeline.cli import db, explore, heatmap, insight, regions, runs
from roz_pipeline.cli.arguments import EXIT_ERROR, EXIT_PENDING, OneLineParser, check_periods, one_line
from roz_pipeline.core.video import ClipError
from roz_pipeline.storage.connection import mask_url
from roz_pipeline.storage.migrations import MigrationError


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="roz", description="Surveillance video -> per-minute motion heatmaps.")
    commands = parser.add_subparsers(title="commands")
    for group in (runs, db, heatmap, insight, regions, explore):
        group.register(commands)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("roz_pipeline").setLevel(logging.INFO)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_ERROR
    try:
        check_periods(args)
        return args.run(args)
    except LookupError as exc:  # nothing stored for the question asked
        print(f"roz: {one_line(str(exc.args[0]))}", file=sys.stderr)
        return EXIT_PENDING
    except psycopg.errors.UndefinedTable:  # a question asked of a database nothing was processed into yet
        print("roz: the database has no Roz tables yet, or not all of them: `roz materialize` (or `roz db migrate`) "
              "creates them", file=sys.stderr)
        return EXIT_ERROR
    except psycopg.Error as exc:  # the message, not the statement PostgreSQL quotes under it
        print(f"roz: {one_line(mask_url(str(exc).strip().splitlines()[0]))}", file=sys.stderr)
        return EXIT_ERROR
    except (ClipError, MigrationError, OSError, ValueError) as exc:  # RegistryError is a ValueError
        print(f"roz: {one_line(mask_url(str(exc)))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def _exit_on_sigterm(signum, frame) -> None:
    """SIGTERM (kill, docker stop, systemd) ends the command through its exit handlers, as Ctrl-C does: the last
    process using the embedded PostgreSQL stops it."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
