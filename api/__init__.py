"""The app's HTTP routes, served by its own server: ``panel serve app.py --plugins api``.

Panel imports this package before the server's event loop runs and adds its ``ROUTES``
to the Tornado application, so nothing here connects or computes at import: the engine
(its cluster connection, store and job registry) is the app's own
(:func:`components.wiring.process_engine`), found on the first request. The API never
computes in the server's process: it asks the engine for jobs and serves what they
produce.

* :mod:`api.jobs`: the job API, generic over the kinds of work the engine knows
* :mod:`api.frames`: ``GET /api/frame.png``, the picture of an app link in one call
* :mod:`api.locations`: ``GET /api/locations``, the famous places; ``POST /api/kfr``, a
  Kalles Fraktaler location file read into the app's params
* :mod:`api.dashboard`: the scheduler's dashboard through the app's own origin

Routes, bodies and errors are described in ``docs/http-api.md``.
"""

from . import base, dashboard, frames, health, jobs, locations

# The fallback last: a JSON 404 for whatever no route before it took.
ROUTES = [
    *jobs.ROUTES,
    *frames.ROUTES,
    *locations.ROUTES,
    *dashboard.ROUTES,
    *health.ROUTES,
    *base.FALLBACK_ROUTES,
]

# The app's sessions embed the dashboard through the proxy when it is served.
dashboard.announce()
