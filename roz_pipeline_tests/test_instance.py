"""deploy/dagster.yaml: runs and events on PostgreSQL (dagster-postgres), one run per camera at a time."""

import yaml
from dagster import DagsterInstance, DagsterRunStatus
from psycopg.conninfo import conninfo_to_dict

from roz_pipeline.settings import REPO_ROOT
from roz_pipeline_tests.helpers import KEEP, T0, local_defs, make_clip, rows, run_range


def _sqlalchemy_url(conninfo: str, scheme: str) -> str:
    params = conninfo_to_dict(conninfo)
    host = params.get("host", "127.0.0.1")
    user = params.get("user", "postgres")
    if host.startswith("/"):
        return f"{scheme}://{user}@/{params['dbname']}?host={host}"
    return f"{scheme}://{user}@{host}:{params.get('port', 5432)}/{params['dbname']}"


def test_deploy_instance_keeps_runs_in_postgres_and_limits_runs_per_camera(tmp_path, migrated_database):
    config = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    assert set(config["storage"]["postgres"]["postgres_db"]) == {"hostname", "port", "db_name", "username", "password",
                                                                 "scheme"}
    scheme = config["storage"]["postgres"]["postgres_db"]["scheme"]
    config["storage"] = {"postgres": {"postgres_url": _sqlalchemy_url(migrated_database, scheme)}}  # test database
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text(yaml.safe_dump(config))
    registry = tmp_path / "cameras.yaml"
    registry.write_text(f"cameras:\n  lobby: {{{KEEP}}}\n")
    make_clip(tmp_path / "videos", "lobby", T0)

    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert {"key": "camera", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in queue.tag_concurrency_limits
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1

        result = run_range(local_defs(registry, tmp_path / "videos", migrated_database), "lobby", T0, T0, instance)

        assert result.success
        assert instance.get_run_by_id(result.run_id).status == DagsterRunStatus.SUCCESS
    assert len(rows(migrated_database)) == 1
