"""`panel serve app.py`: the fractal explorer (the UI is assembled in components/)."""

import panel as pn

pn.extension()

pn.pane.Markdown(
    "# Fractal explorer\n\nThe compute engine is in place (`compute/`); the app follows."
).servable(title="Fractal explorer")
