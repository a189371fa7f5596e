"""The fractal explorer, served: ``panel serve app.py`` (or ``make serve``).

Only assembly happens here. Everything the Dask workers run lives in ``compute/`` (an
installed package: workers cannot import a served script), and the UI in ``components/``.
"""

import holoviews as hv
import panel as pn

from components import FractalExplorer, prestart

TITLE = "Fractal explorer: Panel on Dask"

# This script runs once per session. HoloViews' extension re-applies every plotting
# option each time it is called (about 0.2 s of server time per page); once is enough.
if "bokeh" not in hv.Store.renderers:
    hv.extension("bokeh")
pn.extension(notifications=True)

# The cluster and the kernels start with the server (``panel serve --warm`` runs this
# before the first connection), not in the first user's path. Idempotent afterwards.
prestart()

explorer = FractalExplorer(sync_url=True)

# A plain page rather than one of Panel's templates: measured, a template (FastList,
# Bootstrap, Material or Vanilla alike) cost about a second of server CPU and most of a
# second of browser CPU per page load, which four users opening pages at once on a
# small machine pay in the time to their frames (bench/load.py).
header = pn.pane.HTML(
    f"<span>{TITLE}</span>",
    sizing_mode="stretch_width",
    height=52,
    margin=0,
    styles={
        "background": "#0d6efd",
        "color": "white",
        "font-size": "1.4em",
        "padding": "12px 20px",
        "box-sizing": "border-box",
    },
)
pn.Column(header, explorer, sizing_mode="stretch_width", margin=0).servable(title=TITLE)
