"""Minimal in-process executor; replaced by r20-queue at merge.

``enqueue(job_id)`` runs :func:`mongo_todos.jobs.runner.run` in a background thread of the
serving process, inside an app context (the embedded store lives in this process).
"""

from __future__ import annotations

import threading

from flask import current_app

from mongo_todos.jobs import runner


def enqueue(job_id: str) -> None:
    app = current_app._get_current_object()

    def work() -> None:
        with app.app_context():
            runner.run(job_id)

    threading.Thread(target=work, name=f"job-{job_id}", daemon=True).start()
