"""A WSGI app for gunicorn tests of the queue: the real app with the test stand-in runner, and
``POST /_test/jobs/<id>`` to enqueue a job id (the jobs API lives elsewhere)."""

from tests.jobs import queue_fakes

queue_fakes.install()

from mongo_todos import create_app  # noqa: E402 (after the stand-in is installed)
from mongo_todos.jobs import queue  # noqa: E402

app = create_app()


@app.post("/_test/jobs/<job_id>")
def enqueue(job_id):
    queue.enqueue(job_id)
    return {"enqueued": job_id}, 202
