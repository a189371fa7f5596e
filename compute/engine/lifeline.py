"""A scheduler preload: an embedded scheduler exits when the process that started it dies.

An embedded cluster (see :func:`compute.engine.cluster.local_cluster`) runs its
scheduler in a subprocess of the server (so that the scheduler and its dashboard do not
share the server's interpreter lock with Bokeh). Its workers are the server's own
processes and die with it; a scheduler started with
``preload=["compute.engine.lifeline"]`` watches its parent and closes itself once the
parent is gone (a SIGKILLed server, a crashed test), instead of lingering as an orphan.
"""

from __future__ import annotations

import os

from tornado.ioloop import PeriodicCallback

#: How often the parent is checked, in milliseconds.
INTERVAL_MS = 500


def dask_setup(scheduler) -> None:
    parent = os.getppid()

    def check() -> None:
        # Orphans are re-parented (to init or a subreaper): the parent id changes.
        if os.getppid() != parent:
            watch.stop()
            scheduler.loop.add_callback(scheduler.close, reason="the process that started it died")

    watch = PeriodicCallback(check, INTERVAL_MS)
    watch.start()
