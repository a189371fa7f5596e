"""The fractal explorer, served: ``panel serve app.py`` (or ``make serve``).

Only assembly happens here. Everything the Dask workers run lives in ``compute/`` (an
installed package: workers cannot import a served script), and the UI in ``components/``.
"""

import holoviews as hv
import panel as pn

from components import FractalExplorer

hv.extension("bokeh")
pn.extension("tabulator", notifications=True)

explorer = FractalExplorer(sync_url=True)

pn.template.FastListTemplate(
    title="Fractal explorer: Panel on Dask",
    sidebar=[explorer.controls],
    main=[pn.Row(explorer.image, explorer.dashboard), explorer.history],
    sidebar_width=340,
    accent="#0d6efd",
).servable()
