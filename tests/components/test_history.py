"""JobHistory: job records in a Tabulator, newest last (streamed); a click selects one."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from panel.models.tabulator import CellClickEvent

from components import JobHistory

# Bokeh's ColumnDataSource.from_df calls DataFrame.reset_index(inplace=True), which pandas
# 3.1 deprecates: a third-party warning on every Tabulator update, not this project's.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The inplace keyword in DataFrame.reset_index is deprecated:DeprecationWarning"
)


def record(n: int, **changes) -> dict:
    """A record as :meth:`compute.Job.record` writes it."""
    values = {
        "key": f"julia-{n:024x}",
        "summary": f"julia c=-0.8000+0.{n:04d}i, 500 it, 1024x1024, x[-1.6, 1.6] y[-1.6, 1.6]",
        "config": {"fractal": "julia", "c_imag": n / 10_000},
        "state": "done",
        "cached": False,
        "submitted_at": 1_790_000_000.0 + 60 * n,
        "duration": 0.4125,
        "tiles_total": 16,
        "tiles_done": 16,
        "error": None,
    }
    return {**values, **changes}


def click(history: JobHistory, row: int, column: str = "view") -> None:
    """What the browser's cell-click event does to the table on the server."""
    history._table._process_event(CellClickEvent(model=None, column=column, row=row))


def test_empty_history_has_the_columns():
    history = JobHistory()
    table = history._table.value
    assert list(table.columns) == ["time", "view", "state", "ms", "tiles", "cache hit"]
    assert len(table) == 0


def test_add_streams_the_newest_row_last():
    history = JobHistory(records=[record(0)])
    root = history.__panel__().get_root()
    first, second = record(1), record(2, state="cached", cached=True, duration=0.0)
    (source,) = [m for m in root.references() if type(m).__name__ == "ColumnDataSource"]
    data_before = source.data
    history.add(first)
    history.add(second)
    assert history.records == [record(0), first, second]
    table = history._table.value
    assert table["view"].tolist() == [record(0)["summary"], first["summary"], second["summary"]]
    assert table["state"].tolist() == ["done", "done", "cached"]
    assert table["cache hit"].tolist() == ["", "", "yes"]
    assert table["ms"].tolist() == [412, 412, 0]
    assert table["tiles"].tolist() == ["16/16", "16/16", "16/16"]
    # Streamed, not replaced: the browser's table receives two rows, not three tables.
    assert source.data is data_before
    assert len(source.data["view"]) == 3
    # A record from another day (from the store, before a restart) says which day.
    when = dt.datetime.fromtimestamp(second["submitted_at"]).strftime("%Y-%m-%d %H:%M")
    assert table["time"].iloc[-1] == when


def test_unfinished_and_cancelled_rows():
    history = JobHistory()
    history.add(record(3, state="cancelled", duration=None, tiles_done=5))
    row = history._table.value.iloc[0]
    assert (row["state"], row["tiles"]) == ("cancelled", "5/16")
    assert pd.isna(row["ms"])


def test_limit_drops_the_oldest():
    history = JobHistory(limit=3)
    for n in range(5):
        history.add(record(n))
    assert [r["key"] for r in history.records] == [record(n)["key"] for n in (2, 3, 4)]
    assert history._table.value["view"].tolist() == [record(n)["summary"] for n in (2, 3, 4)]


def test_clicking_a_row_selects_its_record():
    history = JobHistory()
    records = [record(n) for n in range(3)]
    for r in records:
        history.add(r)
    assert history.selected is None
    click(history, 0)
    assert history.selected == records[0]  # the top row is the oldest
    click(history, 2, column="state")
    assert history.selected == records[2]


def test_todays_rows_show_the_time_only():
    history = JobHistory()
    now = dt.datetime.now().replace(hour=12, minute=34, second=56)
    history.add(record(1, submitted_at=now.timestamp()))
    assert history._table.value["time"].tolist() == ["12:34:56"]


def test_only_readable_records_are_kept_from_a_store():
    good = record(1)
    incomplete = {k: v for k, v in record(2).items() if k != "summary"}
    bad_time = record(3, submitted_at="yesterday")
    assert JobHistory.readable([good, incomplete, bad_time, ["not", "a", "dict"]]) == [good]
