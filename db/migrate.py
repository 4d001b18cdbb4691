"""Apply the migrations in db/migrations to DATABASE_URL (or the embedded PostgreSQL).

    python db/migrate.py                 # apply pending migrations
    python db/migrate.py status          # exit 0 up to date, 1 pending, 2 error
    python db/migrate.py migrate --dry-run | repair | baseline VERSION | dump-schema

The same runner as `roz db ...`; see db/README.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout without installing

from roz_pipeline.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["db", *sys.argv[1:]]))
