"""DaskDashboard: the scheduler's /individual-* pages as iframes, from the dashboard link."""

from __future__ import annotations

import html
import re

import panel as pn
import pytest
from bokeh.models import Model

from components import DaskDashboard, dashboard_base
from components.jobs.dashboard import PAGES


@pytest.mark.parametrize(
    ("link", "base"),
    [
        ("http://h:8787/status", "http://h:8787"),
        ("http://h:8787/status/", "http://h:8787"),
        ("http://127.0.0.1:40123/status", "http://127.0.0.1:40123"),
        ("/user/x/proxy/8787/status", "/user/x/proxy/8787"),
        (
            "https://hub.example.org/user/ann/proxy/8787/status",
            "https://hub.example.org/user/ann/proxy/8787",
        ),
        ("http://h:8787", "http://h:8787"),
        ("http://h:8787/", "http://h:8787"),
    ],
)
def test_dashboard_base(link, base):
    assert dashboard_base(link) == base


def rendered_html(dashboard: DaskDashboard) -> str:
    """The HTML the browser would receive: every text of the rendered Bokeh models."""
    root = pn.panel(dashboard).get_root()
    texts = [
        model.text
        for model in root.select({"type": Model})
        if isinstance(getattr(model, "text", None), str)
    ]
    # Panel escapes pane HTML for transport; the browser unescapes it once.
    return "\n".join(html.unescape(t) for t in texts)


def iframes(page_html: str) -> dict[str, str]:
    """src -> title of each iframe."""
    return {
        src: title
        for src, title in re.findall(r'<iframe src="([^"]*)" title="([^"]*)"', page_html)
    }


def test_an_iframe_per_page_and_a_link_to_the_whole_dashboard():
    page_html = rendered_html(DaskDashboard(link="http://h:8787/status"))
    assert iframes(page_html) == {
        "http://h:8787/individual-task-stream": "Task stream",
        "http://h:8787/individual-progress": "Progress",
        "http://h:8787/individual-workers-memory": "Worker memory",
    }
    assert '<a href="http://h:8787/status" target="_blank"' in page_html


def test_proxied_links_keep_the_proxy_path():
    page_html = rendered_html(DaskDashboard(link="/user/x/proxy/8787/status"))
    assert set(iframes(page_html)) == {f"/user/x/proxy/8787/{page}" for page in PAGES}
    assert '<a href="/user/x/proxy/8787/status"' in page_html


def test_only_the_chosen_pages():
    dashboard = DaskDashboard(link="http://h:8787/status", pages=["individual-progress"])
    assert iframes(rendered_html(dashboard)) == {"http://h:8787/individual-progress": "Progress"}


def test_iframe_height_follows_the_parameter():
    page_html = rendered_html(DaskDashboard(link="http://h:8787/status", height=333))
    assert page_html.count("height:333px") == len(PAGES)


def test_without_a_link_a_placeholder_and_no_iframe():
    page_html = rendered_html(DaskDashboard())
    assert "The Dask dashboard appears once the cluster is reached." in page_html
    assert "<iframe" not in page_html


def test_the_link_arriving_later_replaces_the_placeholder():
    dashboard = DaskDashboard()
    root = pn.panel(dashboard).get_root()
    dashboard.link = "http://h:8787/status"
    texts = "\n".join(
        html.unescape(m.text)
        for m in root.select({"type": Model})
        if isinstance(getattr(m, "text", None), str)
    )
    assert set(iframes(texts)) == {f"http://h:8787/{page}" for page in PAGES}
    assert "appears once the cluster is reached" not in texts


def test_a_closed_card_embeds_no_page_until_it_is_opened():
    dashboard = DaskDashboard(link="http://h:8787/status", shown=False)
    root = pn.panel(dashboard).get_root()

    def texts() -> str:
        return "\n".join(
            html.unescape(m.text)
            for m in root.select({"type": Model})
            if isinstance(getattr(m, "text", None), str)
        )

    assert dashboard._card.collapsed is True
    assert "<iframe" not in texts()
    assert '<a href="http://h:8787/status"' in texts()  # the full dashboard, a click away
    dashboard._card.collapsed = False  # what the browser sends when the card opens
    assert dashboard.shown is True
    assert set(iframes(texts())) == {f"http://h:8787/{page}" for page in PAGES}
    dashboard.shown = False
    assert dashboard._card.collapsed is True
    assert "<iframe" not in texts()


def test_a_hostile_link_cannot_inject_markup():
    page_html = rendered_html(DaskDashboard(link='http://h:8787/x"><script>alert(1)</script>'))
    assert "<script>" not in page_html
    assert "&lt;script&gt;" in page_html
