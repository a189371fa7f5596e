"""Panel components; each is a ``pn.viewable.Viewer``.

* :mod:`components.jobs`: job components for any kind of work (status, history,
  dashboard, indicators);
* :mod:`components.fractal`: the fractal explorer's own (explorer, view, controls, movie
  studio, link);
* :mod:`components.wiring`: process wiring (the one engine per server process, its
  start, users, closed tabs).
"""

from .fractal import FractalControls, FractalExplorer, FractalView, MovieStudio
from .jobs import DaskDashboard, JobHistory, JobStatus, dashboard_base
from .wiring import prestart, process_engine

__all__ = [
    "DaskDashboard",
    "FractalControls",
    "FractalExplorer",
    "FractalView",
    "JobHistory",
    "JobStatus",
    "MovieStudio",
    "dashboard_base",
    "prestart",
    "process_engine",
]
