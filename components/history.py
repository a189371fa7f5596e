"""The session's job history: one row per job, click a row to restore its view."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import panel as pn
import param

_COLUMNS = ["time", "view", "state", "ms", "tiles", "cache hit"]
#: What a row needs from a record (see :meth:`compute.Job.record`).
_FIELDS = frozenset(
    [
        *("summary", "config", "state", "cached"),
        *("submitted_at", "duration", "tiles_done", "tiles_total"),
    ]
)


def _when(stamp: float) -> str:
    moment = dt.datetime.fromtimestamp(stamp)
    # Records from the store may be days old: those say which day.
    return moment.strftime("%H:%M:%S" if moment.date() == dt.date.today() else "%Y-%m-%d %H:%M")


class JobHistory(pn.viewable.Viewer):
    """A table of job records (see :meth:`compute.Job.record`), newest at the bottom.

    A new record is streamed into the table (one row travels, and the table scrolls to
    it) rather than replacing the whole table, which cost the browser a redraw of up to
    :attr:`limit` rows for every frame.
    """

    records = param.List(default=[], item_type=dict, doc="Job records, oldest first.")
    selected = param.Dict(default=None, allow_None=True, doc="The record of the row last clicked.")
    limit = param.Integer(default=200, bounds=(1, None), doc="Rows kept.")

    def __init__(self, **params):
        super().__init__(**params)
        self._table = pn.widgets.Tabulator(
            self._frame(self.records),
            disabled=True,
            show_index=False,
            selectable=False,
            sizing_mode="stretch_width",
            height=260,
            layout="fit_data_stretch",
            css_classes=["job-history"],
        )
        self._table.on_click(self._clicked)

    @staticmethod
    def readable(records: list) -> list[dict]:
        """The records that have what a row shows (a store may hold older or foreign ones)."""
        return [
            r
            for r in records
            if isinstance(r, dict)
            and r.keys() >= _FIELDS
            and isinstance(r["config"], dict)
            and isinstance(r["submitted_at"], int | float)
        ]

    def add(self, record: dict) -> None:
        """Append a record (dropping the oldest beyond :attr:`limit`)."""
        with param.parameterized.discard_events(self):  # streamed below, not redrawn
            self.records = [*self.records, record][-self.limit :]
        self._table.stream(self._frame([record]), rollover=self.limit)

    @param.depends("records", watch=True)
    def _refresh(self) -> None:
        self._table.value = self._frame(self.records)

    @staticmethod
    def _frame(records: list[dict]) -> pd.DataFrame:
        rows = [
            {
                "time": _when(r["submitted_at"]),
                "view": r["summary"],
                "state": r["state"],
                "ms": None if r["duration"] is None else round(r["duration"] * 1000),
                "tiles": f"{r['tiles_done']}/{r['tiles_total']}",
                "cache hit": "yes" if r["cached"] else "",
            }
            for r in records
        ]
        return pd.DataFrame(rows, columns=_COLUMNS)

    def _clicked(self, event) -> None:
        if 0 <= event.row < len(self.records):
            self.selected = self.records[event.row]

    def __panel__(self):
        return pn.Column("### Job history (newest last; click a row to restore it)", self._table)
