"""`roz demo` and `roz materialize`: commands that start Dagster runs (Dagster is imported only for them)."""

import os

from roz_pipeline.cli.arguments import EXIT_ERROR, EXIT_OK, period_arguments
from roz_pipeline.settings import cameras_file, dagster_home


def register(commands) -> None:
    demo = commands.add_parser("demo", help="the whole pipeline on generated footage and the embedded defaults")
    demo.add_argument("--database-url", metavar="URL",
                      help="write the demo's rows to this server instead of an embedded PostgreSQL of its own "
                           "(DATABASE_URL is never used by the demo: it would overwrite a real camera's minutes)")
    demo.set_defaults(run=_demo)

    materialize = commands.add_parser(
        "materialize", help="a camera's minutes in real Dagster runs on the DAGSTER_HOME instance, an hour per run")
    materialize.add_argument("--camera", required=True)
    period_arguments(materialize)
    materialize.set_defaults(run=_materialize)


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

    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)  # where DagsterInstance.get() looks
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
