"""Panel components of the fractal explorer; each is a ``pn.viewable.Viewer``.

Process wiring (the one engine per server process, its start, users) is in
:mod:`components.wiring`.
"""

from .controls import FractalControls
from .dashboard import DaskDashboard, dashboard_base
from .explorer import FractalExplorer
from .history import JobHistory
from .movies import MovieStudio
from .status import JobStatus
from .view import FractalView
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
