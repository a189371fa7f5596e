"""Job components: what any app that offloads work shows of its jobs, whatever their kind.

* :class:`JobStatus`: a job's state, progress and Cancel button;
* :class:`JobHistory`: the jobs of a history, newest first, a row clicked to restore;
* :class:`DaskDashboard`: the scheduler's dashboard pages, embedded;
* :class:`EngineWatch`: the cluster's banner, reconnection, the store's problem, a closed
  tab;
* ``indicators``: the small browser-side pieces they draw with (one message each).

They read :class:`compute.engine.Job` and :class:`compute.engine.JobRecord` only.
"""

from .dashboard import DaskDashboard, browser_link, dashboard_base
from .history import JobHistory
from .indicators import Banner, RecordTable, StatusBar
from .status import JobStatus
from .watch import EngineWatch

__all__ = [
    "Banner",
    "DaskDashboard",
    "EngineWatch",
    "JobHistory",
    "JobStatus",
    "RecordTable",
    "StatusBar",
    "browser_link",
    "dashboard_base",
]
