"""The project's nginx configuration, run for real on loopback: Debian's nginx as a normal
process (foreground, its own prefix, pid and temp directories) with config/nginx/nginx.conf as
it is, and config/nginx/templates/default.conf.template rendered into its conf.d the way the
nginx image renders it (envsubst of the variables given, everything else left to nginx)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from string import Template

from tests.support.servers import ROOT

TEMPLATE = ROOT / "config" / "nginx" / "templates" / "default.conf.template"
MAIN = ROOT / "config" / "nginx" / "nginx.conf"

#: What the image's compiled-in defaults and command provide around nginx.conf; here, the
#: test's own paths (main context: nginx's -g; http context: one more file in conf.d).
GLOBALS = "daemon off; pid $prefix/nginx.pid; error_log $prefix/error.log info;"
PATHS = """\
client_body_temp_path $prefix/body;
proxy_temp_path $prefix/proxy;
fastcgi_temp_path $prefix/fastcgi;
uwsgi_temp_path $prefix/uwsgi;
scgi_temp_path $prefix/scgi;
"""


def render(variables: dict[str, str]) -> str:
    """The template with ``variables`` substituted; nginx's own ``$vars`` are kept, as
    envsubst keeps variables that are not defined."""
    return Template(TEMPLATE.read_text()).safe_substitute(variables)


class NginxServer:
    def __init__(self, port: int, upstream: str, max_body: int = 1048576,
                 import_max: int = 16777216):
        self.port = port
        self.upstream = upstream
        self.max_body = max_body
        self.import_max = import_max
        self.prefix = Path(tempfile.mkdtemp(prefix="nginx-"))
        self.process: subprocess.Popen | None = None

    def _read(self, name: str) -> str:
        log = self.prefix / name
        return log.read_text(errors="replace") if log.exists() else ""

    def output(self) -> str:
        """Its standard output: the access log (the error log goes to stderr, as in the image)."""
        return self._read("out.log")

    def error_log(self) -> str:
        return self._read("stderr.log") + self._read("error.log")

    def start(self) -> None:
        # workers drop root to nobody when the suite runs as root: let them use the temp dirs
        os.chmod(self.prefix, 0o777)
        (self.prefix / "conf.d").mkdir()
        (self.prefix / "conf.d" / "default.conf").write_text(render({
            "API_UPSTREAM": self.upstream,
            "NGINX_LISTEN": f"127.0.0.1:{self.port}",
            "MAX_CONTENT_LENGTH": str(self.max_body),
            "IMPORT_MAX_BYTES": str(self.import_max),
        }))
        (self.prefix / "conf.d" / "paths.conf").write_text(
            Template(PATHS).substitute(prefix=self.prefix))
        # copied, so that its relative include finds this conf.d
        shutil.copy(MAIN, self.prefix / "nginx.conf")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        out, err = open(self.prefix / "out.log", "ab"), open(self.prefix / "stderr.log", "ab")
        self.process = subprocess.Popen(
            [nginx, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"), "-e", "stderr",
             "-g", Template(GLOBALS).substitute(prefix=self.prefix)],
            stdout=out, stderr=err,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.output()}{self.error_log()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError("nginx did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)


@contextmanager
def nginx(port: int, upstream: str, max_body: int = 1048576, import_max: int = 16777216):
    server = NginxServer(port, upstream, max_body, import_max)
    server.start()
    try:
        yield server
    finally:
        server.stop()
