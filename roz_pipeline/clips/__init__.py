"""Where clips live (a local folder or an S3 bucket) and how their keys name camera and minute. No Dagster."""
