"""Two logged-in users in real browsers, on one app behind Panel's ``--basic-auth``.

Each sees only their own history and their own movies; a cap on pixel-iterations binds
each user alone and is explained in the page; and a closed tab's work stops at once,
even though Bokeh keeps its unused session for ten minutes here (Bokeh's own timers, not
the watchdog's).
"""

from __future__ import annotations

import pytest
from distributed import Client
from pages import (
    PASSWORD,
    deep_text,
    link,
    log_in,
    view_of,
    wait_state,
    wait_text,
    wait_until,
)

from components.testing import AppServer
from compute.fractal import FractalConfig
from compute.fractal.testing import heavy

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

# A light view per user: its history row reads "<max_iter> it, 256x256".
ANNS = FractalConfig(width=256, height=256, max_iter=61)
BOBS = FractalConfig(width=256, height=256, max_iter=62)
# A movie's end view: a dozen small frames, seconds on one worker.
MOVIE_VIEW = FractalConfig(
    width=256, height=256, max_iter=128, x_range=(-0.4, 0.4), y_range=(-0.4, 0.4)
)
# Each user may start 5e9 pixel-iterations a minute: one heavy frame (4.2e9), not two.
CAP = 5_000_000_000
# Ten minutes: a closed tab's session outlives the test; only the app can stop its work.
LONG = "600000"


@pytest.fixture(scope="module")
def users_app(tmp_path_factory, dask_cli_cluster):
    env = {
        "DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address,
        "FRACTAL_MAX_PIXEL_ITERATIONS_PER_MINUTE": str(CAP),
    }
    args = (
        "--basic-auth", PASSWORD, "--cookie-secret", "test-secret-users",
        "--check-unused-sessions", LONG, "--unused-session-lifetime", LONG,
    )  # fmt: skip
    yield from AppServer.running(tmp_path_factory.mktemp("users-app"), env, "users", args)


def history(page) -> str:
    return deep_text(page, ".job-history")


def test_each_user_sees_their_own_history_and_their_own_cap(tabs, users_app):
    ann, bob = tabs.open(), tabs.open()
    log_in(ann, users_app, "ann")
    log_in(bob, users_app, "bob")
    ann.goto(link(users_app, **view_of(ANNS)))
    assert wait_state(ann, "done", "cached") == "done"
    bob.goto(link(users_app, **view_of(BOBS)))
    assert wait_state(bob, "done", "cached") == "done"
    wait_text(bob, ".job-history", "62 it, 256x256")
    assert "61 it" not in history(bob)

    # A new tab of ann's reads her stored history: hers, not bob's.
    again = tabs.open()
    log_in(again, users_app, "ann")
    again.goto(link(users_app, **view_of(ANNS.copy(c_real=-0.7))))
    wait_state(again, "done", "cached")
    wait_text(again, ".job-history", "61 it, 256x256")
    assert "62 it" not in history(again)

    # A second heavy frame would take bob over his minute's allowance (the first is
    # charged as it starts, and stays charged when he leaves it): he is told why and when
    # it may start; ann renders meanwhile.
    bob.goto(link(users_app, **view_of(heavy(1))))
    wait_state(bob, "running")
    bob.goto(link(users_app, **view_of(heavy(2))))
    message = wait_text(bob, ".input-error", "Not rendered")
    assert "It can start in" in message
    assert "lower max_iter or resolution" in message
    ann.goto(link(users_app, **view_of(ANNS.copy(max_iter=63))))
    assert wait_state(ann, "done", "cached") == "done"


def test_a_users_movie_is_followed_by_their_tabs_only(tabs, users_app):
    # Three live sessions: two of dora's, one of ed's, each showing a frame of its own.
    ann, hers, his = tabs.open(), tabs.open(), tabs.open()
    for page, user, max_iter in ((ann, "dora", 128), (hers, "dora", 129), (his, "ed", 130)):
        log_in(page, users_app, user)
        page.goto(link(users_app, **view_of(MOVIE_VIEW.copy(max_iter=max_iter))))
        wait_state(page, "done", "cached")
    ann.locator(".movie-studio input").first.fill("12")  # frames
    ann.locator(".movie-studio input").first.press("Enter")
    ann.locator(".make-movie button").click()
    # Her other tab follows it to its end, and is told; his lives through it unaware.
    for page in (ann, hers):
        wait_text(page, ".movie-progress", "12 frames")
        wait_text(page, ".movie-progress", "done in", timeout=120)
        wait_text(page, ".job-history", "movie:")
        wait_text(page, ".bk-notification, .notyf", "Movie finished")
    assert "12 frames" not in deep_text(his, ".movie-progress")
    assert "movie:" not in history(his)
    assert "Movie finished" not in deep_text(his, ".bk-notification, .notyf")
    # Nor does his next session read it from the store (his own frame it does).
    his.reload()
    wait_state(his, "done", "cached")
    wait_text(his, ".job-history", "130 it, 256x256")
    assert "movie:" not in history(his)


def test_a_closed_tab_stops_its_work_long_before_bokeh_drops_its_session(
    tabs, users_app, dask_cli_cluster, counter
):
    page = tabs.open()
    log_in(page, users_app, "carol")
    frame = heavy(7)  # 16 tiles of about 0.25 s each, on one single-threaded worker
    counter.reset()
    page.goto(link(users_app, **view_of(frame)))
    wait_until(lambda: len(counter.tiles_of(frame)) >= 1, "the frame's first tile")
    page.context.close()
    tabs.contexts.remove(page.context)
    with Client(dask_cli_cluster.address, set_as_default=False) as client:

        def tiles_left() -> int:
            tasks = client.run_on_scheduler(
                lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks]
            )
            return sum(frame.key in key for key in tasks)

        wait_until(lambda: tiles_left() == 0, "the closed tab's tiles to go")
    # The queued tiles never ran: the frame was stopped, not finished for nobody.
    assert len(counter.tiles_of(frame)) < 16
