"""`roz explore`: the read-only web explorer (roz_pipeline/explore), on this machine's loopback by default."""

from roz_pipeline.cli.arguments import EXIT_OK, up_to
from roz_pipeline.clips.access import clips_from_settings
from roz_pipeline.registry import WatchedRegistry
from roz_pipeline.settings import cameras_file
from roz_pipeline.storage.connection import database_url_or_embedded


def register(commands) -> None:
    explore = commands.add_parser("explore", help="a web page to look at the heatmaps and ask where and when "
                                                  "something moved (read-only)")
    explore.add_argument("--host", default="127.0.0.1",
                         help="the address to listen on (default 127.0.0.1: this machine only, like Dagster's UI)")
    explore.add_argument("--port", type=up_to(65_535), default=8080)
    explore.add_argument("--database-url", metavar="URL",
                         help="the database to read (default: DATABASE_URL, else the embedded PostgreSQL)")
    explore.set_defaults(run=_explore)


def _explore(args) -> int:
    import uvicorn  # the web server: only for this command

    from roz_pipeline.explore.app import Explorer, create_app

    database_url = args.database_url or database_url_or_embedded()
    app = create_app(Explorer(database_url, WatchedRegistry(cameras_file()), clips_from_settings()))
    print(f"Roz explorer on http://{args.host}:{args.port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK
