"""The fractal's components: the explorer (wiring only), the image (a HoloViews pane), the
controls, the movie studio, and the page's link."""

from .controls import FractalControls
from .explorer import FractalExplorer
from .movies import MovieStudio
from .view import FractalView

__all__ = ["FractalControls", "FractalExplorer", "FractalView", "MovieStudio"]
