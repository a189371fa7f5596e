"""The baseline of bench/load.py: the simplest synchronous app, ``render()`` in the callback.

What the HoloViews gallery's Mandelbrot app does: the frame is computed in the server's
own callback (here when the page's session is built), on the server's event loop, then
shown as an image. ``render()`` uses every core in threads; its colour indices travel
to the browser as one byte per pixel, coloured there, as the explorer's do. Served by
``panel serve bench/sync_app.py``; the URL query holds the config, as the explorer's.
"""

import json

import holoviews as hv
import panel as pn

from compute.fractal import FractalConfig, normalize, palette_hex, render

hv.extension("bokeh")

values = {}
for name, raw in pn.state.session_args.items():
    if name in FractalConfig.param:
        text = raw[0].decode()
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        values[name] = tuple(value) if isinstance(value, list) else value
config = FractalConfig(**values)
indices = normalize(render(config), config.normalization)
(x0, x1), (y0, y1) = config.x_range, config.y_range
# Row 0 of a frame is y_range[0], the bottom; an hv.Image draws row 0 at the top.
image = hv.Image(indices[::-1], bounds=(x0, y0, x1, y1)).opts(
    cmap=[*palette_hex(config.colormap), "#000000"],
    clim=(0, 255),
    frame_width=640,
    frame_height=640,
    colorbar=False,
    backend_opts={"plot.output_backend": "canvas"},
)
pn.Column(f"### {config.summary()}", pn.pane.HoloViews(image)).servable()
