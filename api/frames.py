"""``GET /api/frame.png?<the app's URL query>``: the picture of a view in one call.

The app's own link, as an image: the same parameters by the same names (values as
JSON, selector names and the view's decimals as text), with ``format`` (``png``, the
default, or ``npy``) and ``wait`` (seconds, default 10, at most 30). It waits for the
frame, then answers ``202`` with the job's links if it is not ready. ``location``, a
famous place's name (``GET /api/locations``), stands for its view and iterations; the
values given beside it win.
"""

from __future__ import annotations

import json

from compute.fractal import FrameWork
from compute.fractal.config import VIEW_PARAMS
from compute.fractal.frame import display

from .base import ApiError
from .jobs import JobApi, requested

#: Query arguments that are not the view's.
NOT_THE_VIEW = ("colormap", "normalization", "wait", "format")
#: Query arguments read as text, never as JSON (a name "1e50" is no number).
TEXT = (*VIEW_PARAMS, "location")


def query_params(arguments: dict) -> dict:
    """A URL query's view parameters as JSON values (selector names and the view's
    decimals stay text)."""
    params = {}
    for name, raw in arguments.items():
        if name in NOT_THE_VIEW:
            continue
        text = raw[-1].decode(errors="replace")
        if name in TEXT:
            params[name] = text
            continue
        try:
            params[name] = json.loads(text)
        except ValueError:
            params[name] = text
    return params


class FramePngHandler(JobApi):
    async def get(self) -> None:
        wait = self.wait(default=10.0)
        work = requested(FrameWork, query_params(self.request.arguments))
        # How it is to be shown is checked before any work: a bad colormap found only
        # when the frame is served would have cost the cluster the frame.
        fmt = self.get_query_argument("format", None)
        if fmt not in (None, *FrameWork.formats):
            raise ApiError(400, f"format must be png or npy, not {fmt!r}.")
        options = {
            name: self.get_query_argument(name)
            for name in ("colormap", "normalization")
            if self.get_query_argument(name, None) is not None
        }
        try:
            display(options)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        job, answer = await self.post_work(work)
        token = {"token": answer["token"]} if "token" in answer else {}
        await self.send_when_done(job, wait, extra=token)


ROUTES = [(r"/api/frame\.png", FramePngHandler)]
