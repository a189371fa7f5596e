"""A history of jobs: one row per job record, of any kind; a click selects a record."""

from __future__ import annotations

import datetime as dt

import panel as pn
import param

from compute.engine import JobRecord

from .indicators import RecordTable

_COLUMNS = ["time", "job", "state", "ms", "parts", "cache hit"]


def _when(stamp: float) -> str:
    moment = dt.datetime.fromtimestamp(stamp)
    # Records from the store may be days old: those say which day.
    return moment.strftime("%H:%M:%S" if moment.date() == dt.date.today() else "%Y-%m-%d %H:%M")


class JobHistory(pn.viewable.Viewer):
    """A table of job records (:class:`compute.engine.JobRecord`), newest at the bottom.

    A new record travels to the browser as one row (the table scrolls to it) rather
    than as a new table of up to :attr:`limit` rows for every job. A row says its job's
    kind before its summary, but for the :attr:`plain` kinds (an app's main one).
    """

    records = param.List(default=[], item_type=JobRecord, doc="Job records, oldest first.")
    selected = param.ClassSelector(
        class_=JobRecord, default=None, allow_None=True, doc="The record of the row last clicked."
    )
    limit = param.Integer(default=200, bounds=(1, None), doc="Rows kept.")
    title = param.String(default="Job history (newest last)", doc="Above the table.")
    plain = param.List(default=[], item_type=str, doc="Kinds whose rows show their summary alone.")

    def __init__(self, **params):
        super().__init__(**params)
        self._table = RecordTable(
            columns=_COLUMNS,
            rows=self._rows(self.records),
            limit=self.limit,
            sizing_mode="stretch_width",
            height=260,
            css_classes=["job-history"],
        )
        self._table.param.watch(self._clicked, "clicked")

    def add(self, record: JobRecord) -> None:
        """Append a record (dropping the oldest beyond :attr:`limit`)."""
        with param.parameterized.discard_events(self):  # one row sent below, not a table
            self.records = [*self.records, record][-self.limit :]
        (row,) = self._rows([record])
        self._table.append(row)

    def prepend(self, records: list[JobRecord]) -> None:
        """Put older ``records`` (a stored history) ahead of the rows shown, once each."""
        # (Records are not hashable: their config is a dict. 200 rows at most.)
        older = [r for r in records if r not in self.records]
        if older:
            self.records = [*older, *self.records][-self.limit :]

    @param.depends("records", watch=True)
    def _refresh(self) -> None:
        self._table.rows = self._rows(self.records)

    def _rows(self, records: list[JobRecord]) -> list[list[str]]:
        return [
            [
                _when(r.submitted_at),
                r.summary if r.kind in self.plain else f"{r.kind}: {r.summary}",
                r.state,
                "" if r.duration is None else str(round(r.duration * 1000)),
                f"{r.parts_done}/{r.parts_total}",
                "yes" if r.cached else "",
            ]
            for r in records
        ]

    def _clicked(self, event) -> None:
        if event.new is not None and 0 <= event.new < len(self.records):
            self.selected = self.records[event.new]

    def __panel__(self):
        return pn.Column(self.param.title.rx.pipe(lambda t: f"### {t}"), self._table)
