"""/docs in a real browser: headless Chromium renders Swagger UI from the installed assets
(no network beyond loopback), under the page's Content-Security-Policy."""

import shutil
import subprocess
import tempfile

import pytest

from servers import free_port, gunicorn_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_docs_render_every_operation_offline():
    port = free_port()
    with gunicorn_server(port), tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=8000",
             "--dump-dom", f"http://127.0.0.1:{port}/docs"],
            capture_output=True, text=True, timeout=120,
        )
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert "swagger-ui" in dom and "opblock" in dom, dom[:2000]
    for path in ("/api/v1/users", "/api/v1/tokens/refresh", "/api/v1/todos/{todo_id}"):
        assert f'data-path="{path}"' in dom, path
