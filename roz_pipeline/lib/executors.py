"""Where runs execute their steps, chosen by `ROZ_EXECUTOR`.

- `in_process` (default): each run executes its step in the run's own process. Every Roz run has one step (a
  camera's window, a rollup, a maintenance op), so a process per step would only add memory and start-up CPU
  (measured in bench/live.py: a following run holds one process instead of two).
- `multiprocess`: Dagster's default executor, a process per step on the machine the run is launched on.
- `celery`: dagster-celery's `celery_executor` puts each step on a Celery worker (`dagster-celery worker start
  -A dagster_celery.app -y deploy/celery/celery.yaml`), through the broker `ROZ_CELERY_BROKER` (default RabbitMQ
  on 127.0.0.1:5672) with results in `ROZ_CELERY_BACKEND` (default Redis on 127.0.0.1:6379). Workers import this
  code location, so they need the package, the registry and the same environment. The Dagster instance must be
  shared by every machine: PostgreSQL through dagster-postgres (deploy/dagster.yaml).
"""

from dagster import ExecutorDefinition, in_process_executor

from roz_pipeline import settings


def executor_from_environment() -> ExecutorDefinition | None:
    """The executor ROZ_EXECUTOR names; None for Dagster's default (multiprocess)."""
    name = settings.executor()
    if name == "in_process":
        return in_process_executor
    if name == "multiprocess":
        return None
    try:
        from dagster_celery import celery_executor
    except ImportError:
        raise ImportError("ROZ_EXECUTOR=celery needs dagster-celery: pip install -e '.[celery]'") from None
    # Read from the environment by each process ({"env": ...}), so a broker password never lands in run config.
    return celery_executor.configured({
        "broker": _env_or_default(settings.CELERY_BROKER, settings.DEFAULT_CELERY_BROKER),
        "backend": _env_or_default(settings.CELERY_BACKEND, settings.DEFAULT_CELERY_BACKEND),
    }, name="roz_celery_executor")


def _env_or_default(name: str, default: str):
    return {"env": name} if settings.celery_is_set(name) else default
