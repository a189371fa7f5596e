"""The page's link: a view's parameters in the URL query, read and written safely.

The link holds the config's parameters by their own names (values as JSON, selector
names as text). Every value is applied on its own: a bad one is named in a note and the
link rewritten to what is shown, never a traceback or a page that fails to build.
"""

from __future__ import annotations

import json
import re
import urllib.parse

import panel as pn
from panel.util import parse_query

from compute.fractal import COMPUTE_PARAMS, DISPLAY_PARAMS, FractalConfig

#: What the page's link holds: the config's parameters, by their own names.
LINK_PARAMS = COMPUTE_PARAMS + DISPLAY_PARAMS


def value(text: str):
    """A link's value: JSON as the explorer writes it, or bare text (a selector's name).

    NaN and Infinity are no JSON: they stay text, for the config to refuse.
    """
    try:
        return json.loads(text, parse_constant=lambda name: text)
    except ValueError:
        return text


def text(config: FractalConfig, name: str) -> str:
    """The link's text for parameter ``name`` of ``config``."""
    serialized = config.param[name].serialize(getattr(config, name))
    return serialized if isinstance(serialized, str) else json.dumps(serialized)


def _readable(name: str, given: str) -> bool:
    # Panel parses the whole query on every change of the link; some values make its
    # parser raise ('²' passes str.isdigit but not int()).
    try:
        parse_query("?" + urllib.parse.urlencode([(name, given)]))
    except Exception:
        return False
    return True


def clipped(given: str, most: int) -> str:
    """``given``, cut to ``most`` characters with an ellipsis."""
    return given if len(given) <= most else given[: most - 1] + "\u2026"


def plain_markdown(given: str) -> str:
    """``given`` as Markdown that shows it as it is: every ASCII punctuation escaped, so
    that a link's values never become HTML, links or emphasis in the page."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", given)


def page_location():
    """``pn.state.location``, also for a link that Panel's own query parser cannot read."""
    try:
        return pn.state.location
    except ValueError:
        pass
    # Panel parses the query as it makes the page's Location, and its parser raises on
    # some values ("\u00b2" passes str.isdigit, not int()): the session would fail to
    # build. Made here as Panel makes it, but not parsed yet: read() names the bad value
    # and leaves a query Panel can read. Panel offers no public way to do this: its own
    # guard and its own registry of locations are used as Panel 1.9 uses them.
    from panel.io.location import Location, _get_location_params
    from panel.util import edit_readonly

    request = pn.state.curdoc.session_context.request
    location = Location()
    location._syncing = True  # noqa: SLF001 (no parse while the values are set)
    with edit_readonly(location):
        location.param.update(_get_location_params(request.protocol, request.host, request.uri))
    location._syncing = False  # noqa: SLF001
    pn.state._locations[pn.state.curdoc] = location  # noqa: SLF001
    return location


def apply(config: FractalConfig, values: dict) -> str:
    """Set each of ``values`` (name: (value, as the link gave it)) on ``config`` on its
    own; returns a note naming the refused ones, or "" if none was."""
    bad = []
    for name, (given_value, given) in values.items():
        try:
            config.param.update(**{name: given_value})
        except (ValueError, TypeError) as exc:
            bad.append(f"{name}={clipped(given, 60)} ({clipped(str(exc).rstrip('.'), 200)})")
    return f"Ignored invalid values in the link: {'; '.join(bad)}." if bad else ""


def read(location, config: FractalConfig) -> str:
    """Apply the link's valid values to ``config``; return a note naming the others.

    Leaves the link holding what is shown (the bad values replaced), and readable by
    Panel's own query parser.
    """
    pairs = urllib.parse.parse_qsl(location.search.lstrip("?"), keep_blank_values=True)
    # The last of a repeated name wins, as in Panel's reading of the query.
    given = {name: raw for name, raw in pairs if name in LINK_PARAMS}
    values = {}
    for name, raw in given.items():
        parsed = value(raw)
        # JSON has no tuples: a range comes as a list.
        values[name] = (tuple(parsed) if isinstance(parsed, list) else parsed, raw)
    note = apply(config, values)
    others = [(k, v) for k, v in pairs if k not in LINK_PARAMS and _readable(k, v)]
    if note or len(others) + len(given) < len(pairs):
        # Put what is really shown back in the link, so that sharing it shares that.
        shown = [(name, text(config, name)) for name in given]
        location.search = "?" + urllib.parse.urlencode(others + shown)
    return note
