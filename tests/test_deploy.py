"""Deployment checks that run without a Docker engine: the compose file against the compose
specification, the Dockerfile through hadolint, and their wiring."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from servers import ROOT

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_compose_file_matches_the_compose_specification():
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_wiring(compose):
    services = compose["services"]
    assert set(services) == {"mongo", "redis", "api", "seed", "integration"}
    assert services["mongo"]["image"].startswith("mongo:")
    assert "mongo-data:/data/db" in services["mongo"]["volumes"] and "mongo-data" in compose["volumes"]
    for name in ("mongo", "redis"):
        assert services[name]["healthcheck"]["test"]
    api = services["api"]
    assert api["depends_on"] == {"mongo": {"condition": "service_healthy"},
                                 "redis": {"condition": "service_healthy"}}
    assert api["ports"] == ["5000:5000"] and api["build"]["target"] == "runtime"
    assert api["environment"]["MONGODB_URI"].startswith("mongodb://mongo:27017/")
    assert api["environment"]["RATELIMIT_STORAGE_URI"] == "redis://redis:6379/0"
    assert api["env_file"] == "config/.env"
    assert services["seed"]["profiles"] == ["seed"]
    assert services["seed"]["command"][:4] == ["flask", "--app", "mongo_todos", "seed"]
    assert services["integration"]["profiles"] == ["test"]
    assert services["integration"]["build"]["target"] == "test"


def test_dockerfile_passes_hadolint():
    result = subprocess.run([tool("hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_a_small_non_root_image(dockerfile):
    stages = re.findall(r"^FROM (\S+) AS (\w+)", dockerfile, re.M)
    assert [name for _, name in stages] == ["build", "test", "runtime"]
    assert all(image.endswith("-slim") for image, _ in stages)
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001$", runtime, re.M)
    assert "HEALTHCHECK" in runtime and "/healthz" in runtime
    assert "SECRET" not in dockerfile and "ENV MONGODB_URI" not in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "config/.env"} <= set(ignored)


def dockerfile_command(dockerfile: str) -> str:
    """The shell command of the runtime image's CMD."""
    cmd = re.findall(r'^CMD \["sh", "-c", "(.*)"\]$', dockerfile, re.M)
    assert len(cmd) == 1
    return cmd[0]


def test_container_command_inits_indexes_then_execs_gunicorn(dockerfile):
    command = dockerfile_command(dockerfile)
    assert command == "flask --app mongo_todos db init && exec gunicorn -c config/gunicorn.conf.py"


SETTINGS = ["MONGODB_URI", "SECRET_KEY", "JWT_SECRET_KEY", "JWT_ACCESS_TOKEN_EXPIRES",
            "JWT_REFRESH_TOKEN_EXPIRES", "REGISTRATION_OPEN", "REQUIRE_IF_MATCH",
            "RATELIMIT_ENABLED", "RATELIMIT_DEFAULT", "RATELIMIT_TOKEN", "RATELIMIT_STORAGE_URI",
            "TRUSTED_PROXY_COUNT", "MAX_CONTENT_LENGTH", "CORS_ORIGINS", "LOG_LEVEL",
            "PUBLIC_BASE_URL", "TODO_QUOTA"]


@pytest.mark.parametrize("name", SETTINGS)
def test_env_example_documents_every_setting(name):
    text = (ROOT / "config" / ".env.example").read_text()
    assert re.search(rf"^(# )?{name}=", text, re.M)
