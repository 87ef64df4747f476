# syntax=docker/dockerfile:1
# mongo_todos API image. Stages: build (wheels), test (the integration suite, for
# `docker compose --profile test`), runtime (the default, last stage).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mongo_todos ./mongo_todos
# the project's own wheel only: its dependencies come from the lock file in the runtime stage
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim AS test
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /src
COPY requirements/test.txt ./requirements/
# exactly the versions CI tested, hash-checked (scripts/lock writes the lock files)
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/test.txt
COPY pyproject.toml README.md ./
COPY mongo_todos ./mongo_todos
COPY config ./config
COPY tests ./tests
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --no-deps .
CMD ["python", "-m", "pytest", "-m", "mongodb", "tests/integration"]

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 app
COPY requirements/runtime.txt /tmp/runtime.txt
# exactly the versions CI tested, hash-checked; then the project's wheel without dependencies
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/runtime.txt && rm /tmp/runtime.txt
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY config/gunicorn.conf.py ./config/gunicorn.conf.py
USER 10001
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:5000/healthz', timeout=2).status != 200)"]
# indexes are created (idempotently) before serving; exec hands PID 1 to gunicorn for SIGTERM
CMD ["sh", "-c", "flask --app mongo_todos db init && exec gunicorn -c config/gunicorn.conf.py"]
