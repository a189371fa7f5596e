"""The page's link: a view's parameters in the URL query, read and written safely.

The link holds the config's parameters by their own names (values as JSON, selector
names and the view's decimals as text). Every value is applied on its own (the view's
three together): a bad one is named in a note and the link rewritten to what is shown,
never a traceback or a page that fails to build. Old links' ``x_range``/``y_range`` open
the view they describe (x wins), and the link is rewritten with the new names.

The link follows the config by :func:`sync`, not by Panel's own sync: its parser reads
anything that looks like a number as a float, 17 digits of a centre that may need 330.
"""

from __future__ import annotations

import json
import re
import urllib.parse

import panel as pn
from panel.util import parse_query

from compute.fractal import COMPUTE_PARAMS, DISPLAY_PARAMS, FractalConfig
from compute.fractal.config import LEGACY_PARAMS, VIEW_PARAMS, view_of_ranges
from compute.fractal.viewport import Viewport

#: What the page's link holds: the config's parameters, by their own names.
LINK_PARAMS = COMPUTE_PARAMS + DISPLAY_PARAMS


def value(text: str, name: str = ""):
    """A link's value: JSON as the explorer writes it, or bare text (a selector's name,
    the view's decimals).

    NaN and Infinity are no JSON: they stay text, for the config to refuse.
    """
    if name in VIEW_PARAMS:
        return text
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
    own, the view's decimals together; returns a note naming the refused ones, or "" if
    none was."""
    bad = []
    view = {name: values.pop(name) for name in VIEW_PARAMS if name in values}
    for name, (given_value, given) in values.items():
        try:
            config.param.update(**{name: given_value})
        except (ValueError, TypeError) as exc:
            bad.append(f"{name}={clipped(given, 60)} ({clipped(str(exc).rstrip('.'), 200)})")
    if view:
        wanted = {name: getattr(config, name) for name in VIEW_PARAMS}
        wanted.update({name: given_value for name, (given_value, _) in view.items()})
        try:
            # Checked together first: the config never holds a view it cannot show.
            config.copy(**wanted)
            config.param.update(**wanted)
        except (ValueError, TypeError) as exc:
            shown = ", ".join(f"{name}={clipped(given, 60)}" for name, (_, given) in view.items())
            bad.append(f"{shown} ({clipped(str(exc).rstrip('.'), 200)})")
    return f"Ignored invalid values in the link: {'; '.join(bad)}." if bad else ""


def sync(location, config: FractalConfig, noted) -> None:
    """Keep ``config`` in the link both ways: written as one query on every change (one
    browser history entry), read back when the link changes (back, forward).

    Not Panel's own sync: its parser reads anything that looks like a number as a float
    (17 digits of a centre that may need 330), and it rewrites the whole query through
    that parser on every change of any synced value. ``noted(text)`` is told why values
    the link was changed to were not applied; the link then shows the config again.
    """

    def written(*_events) -> None:
        pairs = urllib.parse.parse_qsl(location.search.lstrip("?"), keep_blank_values=True)
        names = set(LINK_PARAMS) | set(LEGACY_PARAMS)
        others = [(k, v) for k, v in pairs if k not in names and _readable(k, v)]
        ours = [(name, text(config, name)) for name in LINK_PARAMS]
        search = "?" + urllib.parse.urlencode(others + ours)
        if search != location.search:
            location.search = search

    def read_back(_event) -> None:
        pairs = urllib.parse.parse_qsl(location.search.lstrip("?"), keep_blank_values=True)
        given = {name: raw for name, raw in pairs if name in LINK_PARAMS}
        changed = {name: raw for name, raw in given.items() if raw != text(config, name)}
        if not changed:
            # The browser's own address as the page connects (it may come after the link
            # was read and rewritten): old names or missing values, the link rewritten.
            if set(LINK_PARAMS) - set(given) or any(k in LEGACY_PARAMS for k, _ in pairs):
                written()
            return
        values = {}
        for name, raw in changed.items():
            parsed = value(raw, name)
            values[name] = (tuple(parsed) if isinstance(parsed, list) else parsed, raw)
        note = apply(config, values)
        if note:
            noted(note)
            written()

    config.param.watch(written, list(LINK_PARAMS))
    location.param.watch(read_back, "search")


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
        parsed = value(raw, name)
        # JSON has no tuples: a range comes as a list.
        values[name] = (tuple(parsed) if isinstance(parsed, list) else parsed, raw)
    note = ""
    legacy = {name: raw for name, raw in pairs if name in LEGACY_PARAMS}
    if legacy and not set(VIEW_PARAMS) & set(given):
        note = _old_view(config, legacy, values)
    note = " ".join(filter(None, [note, apply(config, values)]))
    names = set(LINK_PARAMS) | set(LEGACY_PARAMS)
    others = [(k, v) for k, v in pairs if k not in names and _readable(k, v)]
    if note or legacy or len(others) + len(given) < len(pairs):
        # Put what is really shown back in the link, so that sharing it shares that.
        shown = [(name, text(config, name)) for name in LINK_PARAMS if name in given]
        if legacy:
            shown += [(name, text(config, name)) for name in VIEW_PARAMS if name not in given]
        location.search = "?" + urllib.parse.urlencode(others + shown)
    return note


def _old_view(config: FractalConfig, legacy: dict, values: dict) -> str:
    # An old link's ranges: the view they describe joins the values to apply.
    try:
        ranges = {name: tuple(json.loads(raw)) for name, raw in legacy.items()}
        frame = {
            name: values[name][0] if name in values else getattr(config, name)
            for name in ("width", "height")
        }
        view = view_of_ranges(ranges, frame)
        Viewport(**view)
    except (ValueError, TypeError) as exc:
        shown = ", ".join(f"{name}={clipped(raw, 60)}" for name, raw in legacy.items())
        return f"Ignored invalid values in the link: {shown} ({clipped(str(exc), 200)})."
    values.update({name: (text_, text_) for name, text_ in view.items()})
    return ""
