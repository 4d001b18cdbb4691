"""The Dagster code location: `dagster dev` (workspace.yaml) loads `defs` from here.

Cameras come from the registry (ROZ_CAMERAS_FILE, default ./cameras.yaml); resources from the environment
(DATABASE_URL or the embedded PostgreSQL; ROZ_S3_BUCKET or the local ROZ_VIDEO_ROOT).
"""

from roz_pipeline.defs import build_definitions

defs = build_definitions()
