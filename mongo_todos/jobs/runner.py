"""Runs one job by its id (placeholder; r20-jobs provides the real one)."""


def run(job_id: str) -> None:
    """placeholder; r20-jobs provides the real one"""
    raise NotImplementedError(job_id)
