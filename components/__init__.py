"""Panel components of the fractal explorer; each is a ``pn.viewable.Viewer``."""

from .controls import FractalControls
from .dashboard import DaskDashboard, dashboard_base
from .explorer import FractalExplorer, prestart, shared_connection
from .history import JobHistory
from .movies import MovieStudio
from .status import JobStatus
from .view import FractalView

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
    "shared_connection",
]
