"""JobHistory: job records in a table, newest last (one row sent at a time); a click
on a row selects its record."""

from __future__ import annotations

import datetime as dt
import json

from components import JobHistory
from compute.engine import JobRecord
from compute.fractal import FrameStore


def record(n: int, **changes) -> JobRecord:
    """A record as :meth:`compute.engine.Job.record` writes it."""
    values = {
        "key": f"julia-{n:024x}",
        "summary": f"julia c=-0.8000+0.{n:04d}i, 500 it, 1024x1024, x[-1.6, 1.6] y[-1.6, 1.6]",
        "config": {"fractal": "julia", "c_imag": n / 10_000},
        "state": "done",
        "submitted_at": 1_790_000_000.0 + 60 * n,
        "duration": 0.4125,
        "parts_total": 16,
        "parts_done": 16,
        "error": None,
        "updated_at": 1_790_000_000.0 + 60 * n + 1,
    }
    return JobRecord(**{**values, **changes})


def click(history: JobHistory, row: int) -> None:
    """What the browser sends when a row is clicked."""
    history._table._handle_msg({"row": row})


def column(history: JobHistory, name: str) -> list[str]:
    """One column of the table, as the browser shows it, top to bottom."""
    index = history._table.columns.index(name)
    return [row[index] for row in history._table.rows]


def test_empty_history_has_the_columns():
    history = JobHistory(plain=["frame"])
    assert history._table.columns == ["time", "job", "state", "ms", "parts", "cache hit"]
    assert history._table.rows == []


def test_add_sends_one_row_and_puts_it_last():
    history = JobHistory(plain=["frame"], records=[record(0)])
    sent = []
    history._table._send_msg = sent.append  # what would travel to the browser
    replaced = []
    history._table.param.watch(lambda e: replaced.append(e.name), "rows")
    first, second = record(1), record(2, state="cached", duration=0.0)
    history.add(first)
    history.add(second)
    assert history.records == [record(0), first, second]
    assert column(history, "job") == [record(0).summary, first.summary, second.summary]
    assert column(history, "state") == ["done", "done", "cached"]
    assert column(history, "cache hit") == ["", "", "yes"]
    assert column(history, "ms") == ["412", "412", "0"]
    assert column(history, "parts") == ["16/16", "16/16", "16/16"]
    # One row each, not a table each time.
    assert [len(msg["append"]) for msg in sent] == [1, 1]
    assert sent[-1]["append"][0] == history._table.rows[-1]
    assert replaced == []
    # A view drawn after those rows were sent asks for them all, and gets them.
    history._table._handle_msg({"sync": True})
    assert sent[-1] == {"rows": history._table.rows}
    assert len(sent[-1]["rows"]) == 3
    # A record from another day (from the store, before a restart) says which day.
    when = dt.datetime.fromtimestamp(second.submitted_at).strftime("%Y-%m-%d %H:%M")
    assert column(history, "time")[-1] == when


def test_unfinished_and_cancelled_rows():
    history = JobHistory(plain=["frame"])
    history.add(record(3, state="cancelled", duration=None, parts_done=5))
    assert (column(history, "state"), column(history, "parts")) == (["cancelled"], ["5/16"])
    assert column(history, "ms") == [""]


def test_limit_drops_the_oldest():
    history = JobHistory(plain=["frame"], limit=3)
    for n in range(5):
        history.add(record(n))
    assert [r.key for r in history.records] == [record(n).key for n in (2, 3, 4)]
    assert column(history, "job") == [record(n).summary for n in (2, 3, 4)]


def test_clicking_a_row_selects_its_record():
    history = JobHistory(plain=["frame"])
    records = [record(n) for n in range(3)]
    for r in records:
        history.add(r)
    assert history.selected is None
    click(history, 0)
    assert history.selected == records[0]  # the top row is the oldest
    click(history, 2)
    assert history.selected == records[2]
    history.selected = None
    click(history, 2)  # the same row again: selected again
    assert history.selected == records[2]
    click(history, 7)  # no such row (a stale page): nothing
    assert history.selected == records[2]


def test_todays_rows_show_the_time_only():
    history = JobHistory(plain=["frame"])
    now = dt.datetime.now().replace(hour=12, minute=34, second=56)
    history.add(record(1, submitted_at=now.timestamp()))
    assert column(history, "time") == ["12:34:56"]


def test_other_kinds_of_job_say_their_kind():
    history = JobHistory(plain=["frame"])
    history.add(record(4, kind="movie", summary="120 frames", config=None))
    history.add(
        record(5, kind="call", summary="slow(3)", config=None, parts_total=1, parts_done=1)
    )
    assert column(history, "job") == ["movie: 120 frames", "call: slow(3)"]
    assert column(history, "parts") == ["16/16", "1/1"]


def test_the_store_skips_unreadable_and_foreign_records_and_the_history_shows_the_rest(
    tmp_path,
):
    store = FrameStore(tmp_path / "store")
    good = [record(1), record(2, state="cancelled", duration=None, parts_done=5)]
    for r in good:
        store.add_record(r)
    folder = tmp_path / "store" / "history"
    foreign = {
        "a-list": ["not", "a", "record"],
        "no-key": {"summary": "a dict without a key", "state": "done"},
        # Not a kind's name at all (a kind this server does not know, such as "painting",
        # is no longer foreign: a history lists every kind's records, see JobRecord).
        "bad-kind": {**record(3).to_dict(), "kind": "Not A Kind"},
        "bad-state": {**record(4).to_dict(), "state": "exploded"},
        "bad-time": {**record(5).to_dict(), "submitted_at": "yesterday"},
        "bad-config": {**record(6).to_dict(), "config": [1, 2]},
    }
    for name, data in foreign.items():
        (folder / f"{name}.json").write_text(json.dumps(data))
    (folder / "half.json").write_text('{"key": "julia-half", "sta')
    assert len(list(folder.glob("*.json"))) == len(good) + len(foreign) + 1
    read = store.history()
    # Every field but the time the store wrote it survives the round trip.
    assert [r.replace(updated_at=0) for r in read] == [r.replace(updated_at=0) for r in good]
    history = JobHistory(plain=["frame"], records=read)
    assert history.records == read
    assert column(history, "job") == [r.summary for r in good]
    assert column(history, "state") == ["done", "cancelled"]
    assert column(history, "parts") == ["16/16", "5/16"]
