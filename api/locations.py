"""Famous places and Kalles Fraktaler's location files, as views of the app.

* ``GET /api/locations``: the famous places (:mod:`compute.fractal.locations`) the
  server's depth limit reaches: each one's name, title, params, source and note. A
  frame is asked for by a place's name: ``location=<name>`` (``/api/frame.png``, or a
  frame job's params).
* ``POST /api/kfr`` with a ``.kfr`` file's text as the body: its view as the app's params,
  and notes on what was assumed or changed (``200``); ``400`` naming the line at fault.
  Nothing is computed.
"""

from __future__ import annotations

from compute.fractal.locations import locations, read_kfr

from .base import MAX_BODY, ApiError, ApiHandler


class LocationsHandler(ApiHandler):
    async def get(self) -> None:
        places = [
            {
                "name": place.name,
                "title": place.title,
                "params": place.params(),
                "source": place.source,
                "note": place.note,
            }
            for place in locations()
        ]
        self.send_json(200, {"locations": places})


class KfrHandler(ApiHandler):
    async def post(self) -> None:
        # Any media type (curl's --data-binary says form-urlencoded): the body is read as
        # the file's text, nothing else. Nothing starts; the answer is the view read.
        if len(self.request.body) > MAX_BODY:
            raise ApiError(413, f"The request body is over {MAX_BODY} bytes.")
        try:
            text = self.request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "The body must be a .kfr file's text (UTF-8).") from None
        notes: list[str] = []
        try:
            params = read_kfr(text, notes)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        self.send_json(200, {"params": params, "notes": notes})


ROUTES = [(r"/api/locations", LocationsHandler), (r"/api/kfr", KfrHandler)]
