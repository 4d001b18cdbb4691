"""`python -m roz_pipeline.cli ARGS`: the same as `roz ARGS`."""

import sys

from roz_pipeline.cli.main import main

sys.exit(main())
