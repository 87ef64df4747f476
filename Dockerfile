# syntax=docker/dockerfile:1
# Build stage: wheels for the app and its dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mongo_todos ./mongo_todos
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: the installed package, gunicorn settings, a non-root user.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
WORKDIR /app
COPY config/gunicorn.conf.py ./config/gunicorn.conf.py
USER app
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:5000/healthz', timeout=2).status != 200)"]
# indexes are created once per start (idempotent), before serving
CMD ["sh", "-c", "flask --app mongo_todos db init && exec gunicorn -c config/gunicorn.conf.py"]
