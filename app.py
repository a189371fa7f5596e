"""The fractal explorer, served: ``panel serve app.py`` (or ``make serve``).

Only assembly happens here. Everything the Dask workers run lives in ``compute/`` (an
installed package: workers cannot import a served script), and the UI in ``components/``.
"""

import holoviews as hv
import panel as pn

from components import FractalExplorer, prestart

hv.extension("bokeh")
pn.extension(notifications=True)

# The cluster and the kernels start with the server (``panel serve --warm`` runs this
# before the first connection), not in the first user's path. Idempotent afterwards.
prestart()

explorer = FractalExplorer(sync_url=True)

pn.template.FastListTemplate(
    title="Fractal explorer: Panel on Dask",
    sidebar=[explorer.controls],
    main=[pn.Row(explorer.image, explorer.dashboard), explorer.history],
    sidebar_width=340,
    accent="#0d6efd",
    # The header's spinner re-lays out the whole page each time the server is busy,
    # which during a drag is all the time; the job badge says what is going on.
    busy_indicator=None,
).servable()
