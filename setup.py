import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

MIGRATIONS = Path(__file__).resolve().parent / "db" / "migrations"


class BuildWithMigrations(build_py):
    """Copies db/migrations/*.sql (their one source) into the package as roz_pipeline/migrations/, so that an
    installed Roz migrates its database without the repository."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "roz_pipeline" / "migrations"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(MIGRATIONS.glob("*.sql")):
            shutil.copyfile(path, target / path.name)

setup(
    name="roz_pipeline",
    version="0.1.0",
    description="Surveillance video -> per-minute motion heatmaps in PostgreSQL, orchestrated by Dagster",
    packages=find_packages(include=["roz_pipeline", "roz_pipeline.*"]),
    python_requires=">=3.11",
    install_requires=[
        # The dagster integrations are versioned 0.x alongside dagster 1.x: pin the family together,
        # or pip backtracks to 2021 releases of dagster-aws / dagster-postgres.
        "dagster==1.13.27",
        "dagster-webserver==1.13.27",
        "dagster-dg-cli==1.13.27",  # Dagster's project tooling: `dg check defs`, `dg list defs`, `dg dev` ([tool.dg])
        "dagster-postgres==0.29.27",
        "dagster-aws==0.29.27",
        "numpy>=1.26",
        "opencv-python-headless>=4.9",
        "av>=12",
        "psycopg[binary]>=3.1",
        "pgserver>=0.1.4",
        "python-dotenv>=1.0",
        "PyYAML>=6",
        "deflate>=0.7",  # libdeflate: smaller intensity_array rows, same zlib format (core/codec.py)
        "paho-mqtt>=2.1,<3",  # Eclipse's MQTT client (Frigate uses it too): recorder status, alerts (mqtt/)
        "starlette>=0.37", "uvicorn>=0.29", "Jinja2>=3.1",  # roz explore (also Dagster's webserver's)
    ],
    package_data={"roz_pipeline.explore": ["templates/*.html", "static/*"]},
    extras_require={
        # Scale-out on Celery workers (ROZ_EXECUTOR=celery): RabbitMQ or Redis broker, Redis results.
        "celery": ["dagster-celery==0.29.27", "celery[redis]>=5.3"],
        # The Kubernetes image (Dockerfile): run pods launched by K8sRunLauncher load the instance's launcher.
        "k8s": ["dagster-k8s==0.29.27"],
        "test": [
            "pytest>=8",
            "moto[server]>=5",
            "imageio-ffmpeg>=0.5",  # an ffmpeg binary: clips cut by its segment muxer, as recorders cut them
            "playwright>=1.40",  # drives Debian's chromium in the explorer's browser tests (no browser download)
            "dagster-celery==0.29.27",
            "celery[redis]>=5.3",
            "hypothesis>=6.100",  # generated requests and argument lists: no 500, no traceback (test_no_traceback.py)
            "ruff==0.17.6",  # the lint rules of pyproject.toml, held by test_structure.py (pinned: rules change)
        ],
        # bench/run.py: the FFmpeg baseline, process trees (bench/live.py), moto's S3 and Celery (as the tests).
        "bench": ["imageio-ffmpeg>=0.5", "psutil>=5.9", "moto[server]>=5", "dagster-celery==0.29.27",
                  "celery[redis]>=5.3"],
    },
    entry_points={"console_scripts": ["roz=roz_pipeline.cli.main:main"]},
    cmdclass={"build_py": BuildWithMigrations},
)
