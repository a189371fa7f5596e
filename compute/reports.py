"""Workers' own word that work started: a worker plugin and the topic it reports on.

A future says "processing" while its task still waits in a worker's queue, so a job's
``running`` state comes from the worker instead. Tiles report themselves (see
:func:`compute.tiles.compute_tile`); any other task is reported by :class:`StartReporter`
when it carries the :data:`JOB_ANNOTATION` annotation (``dask.annotate``), which travels
with the task to its worker. A worker without the plugin simply reports nothing: the job
reads "running" once its first part arrives.
"""

from __future__ import annotations

from distributed import WorkerPlugin

#: Topic of the reports: ``{"job": job key, "key": task key}`` or ``{"job", "part"}``.
JOB_STARTED_TOPIC = "fractal-job-started"
#: Annotation naming the job a task belongs to.
JOB_ANNOTATION = "fractal_job"


class StartReporter(WorkerPlugin):
    """Report on :data:`JOB_STARTED_TOPIC` each task annotated with a job as it starts."""

    name = "fractal-start-reporter"

    def setup(self, worker) -> None:
        self.worker = worker

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish != "executing":
            return
        ts = self.worker.state.tasks.get(key)
        job = (ts.annotations or {}).get(JOB_ANNOTATION) if ts is not None else None
        if job is not None:
            self.worker.log_event(JOB_STARTED_TOPIC, {"job": job, "key": key})


def report_part(job: str, part: int) -> None:
    """From inside a task: tell the client that part ``part`` of ``job`` started."""
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not on a Dask worker (in-process rendering, tests)
        return
    worker.log_event(JOB_STARTED_TOPIC, {"job": job, "part": part})
