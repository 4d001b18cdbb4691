# The Roz code location image (deploy/README.md "Kubernetes"): Roz's wheel and its dependencies on Python 3.11.
# It serves roz_pipeline.definitions over Dagster's gRPC API to the webserver and the daemon, and runs launched runs
# (K8sRunLauncher starts run pods from this image). Build from the repository root:
#     docker build -t registry.example.com/roz:0.1.0 .
# roz_pipeline_tests/test_install.py runs these steps without Docker: the wheel from the files copied below, the
# package installed from it outside the checkout, and the CMD serving the definitions.

FROM python:3.11-slim AS wheel
WORKDIR /src
COPY setup.py pyproject.toml MANIFEST.in README.md ./
COPY roz_pipeline roz_pipeline
COPY db/migrations db/migrations
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir "$(echo /wheels/roz_pipeline-*.whl)[k8s]" && rm -rf /wheels
RUN useradd --create-home --uid 10001 roz && mkdir -p /opt/dagster/dagster_home /etc/roz \
    && chown roz /opt/dagster/dagster_home
ENV DAGSTER_HOME=/opt/dagster/dagster_home \
    ROZ_HOME=/home/roz/.roz \
    ROZ_CAMERAS_FILE=/etc/roz/cameras.yaml \
    PYTHONUNBUFFERED=1
USER roz
WORKDIR /home/roz
EXPOSE 3030
# The Helm chart replaces this with its own `dagster api grpc` command (deploy/helm/values.yaml).
CMD ["dagster", "api", "grpc", "--host", "0.0.0.0", "--port", "3030", "--module-name", "roz_pipeline.definitions"]
