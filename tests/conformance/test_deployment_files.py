"""Deployment checks that run without a Docker engine: the compose file against the compose
specification, the Dockerfile through hadolint, and their wiring."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.servers import ROOT, dockerfile_command

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
    assert set(services) == {"config", "mongo", "redis", "api", "worker", "proxy", "seed",
                             "integration"}
    assert services["mongo"]["image"].startswith("mongo:")
    assert "mongo-data:/data/db" in services["mongo"]["volumes"] and "mongo-data" in compose["volumes"]
    for name in ("mongo", "redis", "proxy"):
        assert services[name]["healthcheck"]["test"]
    api = services["api"]
    assert api["depends_on"] == {"config": {"condition": "service_completed_successfully"},
                                 "mongo": {"condition": "service_healthy"},
                                 "redis": {"condition": "service_healthy"}}
    assert api["build"]["target"] == "runtime"
    assert api["environment"]["MONGODB_URI"].startswith("mongodb://mongo:27017/")
    assert api["environment"]["RATELIMIT_STORAGE_URI"] == "redis://redis:6379/0"
    assert api["env_file"] == [{"path": "config/.env", "required": False}]
    assert services["seed"]["profiles"] == ["seed"]
    assert "flask --app mongo_todos seed" in services["seed"]["command"][-1]
    assert services["integration"]["profiles"] == ["test"]
    assert services["integration"]["build"]["target"] == "test"


def test_a_worker_service_runs_the_jobs_the_api_queues(compose):
    services = compose["services"]
    api, worker = services["api"], services["worker"]
    # the same image, the same settings file, the same database and broker as the API
    assert worker["image"] == api["image"] and worker["build"] == api["build"]
    assert worker["env_file"] == api["env_file"]
    for name in ("MONGODB_URI", "JOBS_BROKER_URL"):
        assert worker["environment"][name] == api["environment"][name]
    broker = api["environment"]["JOBS_BROKER_URL"]
    assert broker.startswith("redis://redis:6379/")
    assert broker != api["environment"]["RATELIMIT_STORAGE_URI"]  # its own Redis database
    assert worker["depends_on"] == api["depends_on"]
    assert worker["command"][:4] == ["celery", "-A", "mongo_todos.jobs.worker", "worker"]
    hostname = worker["command"][worker["command"].index("--hostname") + 1]
    assert hostname == "worker@%h"
    # healthy when the worker itself answers a ping through the broker
    check = worker["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    assert "celery -A mongo_todos.jobs.worker inspect ping" in check[1]
    assert "--destination worker@$$HOSTNAME" in check[1]  # $$: compose's escape for $
    assert "ports" not in worker and "expose" not in worker
    # queued jobs survive a Redis restart
    redis = services["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert "redis-data:/data" in redis["volumes"] and "redis-data" in compose["volumes"]


def test_the_proxy_is_the_only_published_port_and_the_api_trusts_exactly_it(compose):
    services = compose["services"]
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert published == {"proxy": ["5000:80"]}
    proxy, api = services["proxy"], services["api"]
    assert proxy["depends_on"] == {"api": {"condition": "service_healthy"}}
    assert proxy["environment"]["API_UPSTREAM"] == "api:5000"
    assert "./config/nginx/templates:/etc/nginx/templates:ro" in proxy["volumes"]
    assert api["environment"]["TRUSTED_PROXY_COUNT"] == "1"
    assert api["environment"]["GUNICORN_WORKER_CLASS"] == "sync"


def test_every_template_variable_is_given_to_the_proxy(compose):
    template = (ROOT / "config" / "nginx" / "templates" / "default.conf.template").read_text()
    # ${NAME} is the template's (envsubst); nginx's own variables are written $name
    needed = set(re.findall(r"\$\{([A-Z_]+)\}", template))
    proxy = compose["services"]["proxy"]
    example = (ROOT / "config" / ".env.example").read_text()
    from_env_file = set(re.findall(r"^([A-Z_]+)=", example, re.M))
    assert needed == {"API_UPSTREAM", "NGINX_LISTEN", "MAX_CONTENT_LENGTH", "IMPORT_MAX_BYTES"}
    assert needed <= set(proxy["environment"]) | from_env_file
    assert proxy["env_file"] == [{"path": "config/.env", "required": False}]


def test_the_proxy_runs_its_own_main_file_with_the_descriptors_it_asks_for(compose):
    # the image's default main file allows 1,024 connections per worker (issue 19, item 4);
    # the file itself runs for real in tests/e2e/test_nginx_proxy.py
    proxy = compose["services"]["proxy"]
    assert "./config/nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    main = (ROOT / "config" / "nginx" / "nginx.conf").read_text()
    rlimit = int(re.search(r"^worker_rlimit_nofile (\d+);", main, re.M).group(1))
    connections = int(re.search(r"worker_connections (\d+);", main).group(1))
    assert connections >= 65536 and rlimit > connections
    assert proxy["ulimits"]["nofile"] == rlimit


def test_mongodb_runs_as_a_replica_set_the_uris_name(compose):
    services = compose["services"]
    command = services["mongo"]["command"]
    replica_set = command[command.index("--replSet") + 1]
    healthcheck = " ".join(services["mongo"]["healthcheck"]["test"])
    assert f"rs.initiate({{_id: '{replica_set}'" in healthcheck
    assert "members: [{_id: 0, host: 'mongo:27017'}]" in healthcheck
    assert "isWritablePrimary" in healthcheck
    for name in ("api", "worker", "seed", "integration"):
        assert services[name]["environment"]["MONGODB_URI"].endswith(f"?replicaSet={replica_set}")


def test_seed_can_run_before_the_api_has_started(compose):
    seed = compose["services"]["seed"]
    assert "api" not in seed["depends_on"] and seed["depends_on"]["mongo"] == {
        "condition": "service_healthy"}
    assert seed["build"]["target"] == "runtime"  # `run` builds the image if it is missing
    assert seed["command"][-1].startswith("flask --app mongo_todos db init && ")


def config_check_script(compose, config_dir: Path) -> str:
    """The config service's shell command, as compose hands it to sh, for ``config_dir``."""
    service = compose["services"]["config"]
    [mount] = service["volumes"]
    target = mount.split(":")[1]
    assert service["entrypoint"] == ["sh", "-c"]
    return service["command"][0].replace("$$", "$").replace(target, str(config_dir))


def test_a_missing_env_file_stops_compose_with_a_clear_message(compose, tmp_path):
    for name in ("api", "worker", "seed"):
        assert compose["services"][name]["depends_on"]["config"] == {
            "condition": "service_completed_successfully"}
    script = config_check_script(compose, tmp_path)
    missing = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)
    assert missing.returncode == 1
    assert "config/.env is missing" in missing.stdout
    assert "cp config/.env.example config/.env" in missing.stdout
    (tmp_path / ".env").write_text("SECRET_KEY=x\n")
    present = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)
    assert present.returncode == 0 and present.stdout == ""


def test_the_env_file_is_ignored_by_git_and_docker():
    ignored = subprocess.run(["git", "check-ignore", "-q", "config/.env"], cwd=ROOT, timeout=10)
    assert ignored.returncode == 0
    assert "config/.env" in (ROOT / ".dockerignore").read_text().split()


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


def test_container_command_inits_indexes_then_execs_gunicorn(dockerfile):
    command = dockerfile_command(dockerfile)
    assert command == "flask --app mongo_todos db init && exec gunicorn -c config/gunicorn.conf.py"


SETTINGS = ["MONGODB_URI", "SECRET_KEY", "JWT_SECRET_KEY", "JWT_ACCESS_TOKEN_EXPIRES",
            "JWT_REFRESH_TOKEN_EXPIRES", "REGISTRATION_OPEN", "REQUIRE_IF_MATCH",
            "RATELIMIT_ENABLED", "RATELIMIT_DEFAULT", "RATELIMIT_TOKEN", "RATELIMIT_STORAGE_URI",
            "TRUSTED_PROXY_COUNT", "MAX_CONTENT_LENGTH", "CORS_ORIGINS", "LOG_LEVEL",
            "PUBLIC_BASE_URL", "TODO_QUOTA", "JOBS_BROKER_URL", "JOBS_VISIBILITY_TIMEOUT",
            "JOBS_PER_USER", "EXPORT_TTL", "EXPORTS_PER_USER", "IMPORT_MAX_BYTES",
            "SYNC_TOMBSTONE_TTL", "SYNC_TOMBSTONES_PER_USER"]


@pytest.mark.parametrize("name", SETTINGS)
def test_env_example_documents_every_setting(name):
    text = (ROOT / "config" / ".env.example").read_text()
    assert re.search(rf"^(# )?{name}=", text, re.M)
