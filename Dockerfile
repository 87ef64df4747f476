# syntax=docker/dockerfile:1
# mongo_todos API image. Stages: build (wheels), test (the integration suite, for
# `docker compose --profile test`), runtime (the default, last stage).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mongo_todos ./mongo_todos
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim AS test
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mongo_todos ./mongo_todos
COPY config ./config
COPY tests ./tests
# the project itself: its dependencies are pinned to ranges in pyproject.toml
# hadolint ignore=DL3013
RUN pip install --no-cache-dir '.[test]'
CMD ["python", "-m", "pytest", "-m", "mongodb", "tests/integration"]

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY config/gunicorn.conf.py ./config/gunicorn.conf.py
USER 10001
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:5000/healthz', timeout=2).status != 200)"]
# indexes are created (idempotently) before serving; exec hands PID 1 to gunicorn for SIGTERM
CMD ["sh", "-c", "flask --app mongo_todos db init && exec gunicorn -c config/gunicorn.conf.py"]
