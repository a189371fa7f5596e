"""Small components that change with every frame and must cost the page almost nothing.

A Panel pane in a template re-sends its stylesheets with every update (new stylesheet
models: the server walks the whole document again, the browser re-styles and lays out
the page again). Measured in the explorer, the badge, text and banner updates of one
frame cost the server a quarter of a second and the browser more. These components are
``JSComponent``s of a fixed size: an update sends the changed values only, and the
browser changes a few DOM nodes in the component's own shadow root. The record table
replaces a Tabulator, which cost a third of a second of every session's construction
and its own JavaScript bundle on every page load.
"""

from __future__ import annotations

from typing import ClassVar

import param
from panel.custom import JSComponent


class StatusBar(JSComponent):
    """A state badge, a progress bar, a line of text and a Cancel button, in one model.

    Everything drawn is one parameter, :attr:`value`: Panel's update of a component's
    parameters costs about 0.4 ms per parameter (it looks each name up on the Bokeh
    model, and the miss builds a "did you mean" suggestion), so one dict beats seven.
    """

    value = param.Dict(
        default={
            "state": "idle",
            "label": "idle",
            "colour": "#6c757d",
            "text": "",
            "done": 0,
            "total": 1,
            "cancellable": False,
        },
        doc="What is drawn: state (the badge's data-state), label, colour, text, done, "
        "total and cancellable (whether Cancel is enabled).",
    )
    cancel = param.Event(doc="Cancel was pressed.")

    _esm = """
    export function render({model, el}) {
      el.innerHTML = `
        <span class="job-state"></span>
        <progress class="job-progress"></progress>
        <span class="job-text"></span>
        <span class="cancel-button"><button type="button">Cancel</button></span>`
      const [badge, bar, text, box] = el.children
      const button = box.firstElementChild
      button.addEventListener("click", () => model.send_msg("cancel"))
      function draw() {
        const v = model.value
        badge.dataset.state = text.dataset.state = bar.dataset.state = v.state
        badge.textContent = v.label
        badge.style.background = v.colour
        text.textContent = v.text
        bar.max = v.total
        bar.value = Math.min(v.done, v.total)
        button.disabled = !v.cancellable
      }
      draw()
      model.on("value", draw)
    }
    """

    _stylesheets: ClassVar[list[str]] = [
        """
        :host { display: flex; align-items: center; gap: 12px; font-size: 14px; }
        .job-state { color: white; border-radius: 1em; padding: 0.25em 0.8em;
                     font-weight: 600; min-width: 5.5em; text-align: center; }
        progress { width: 180px; height: 14px; }
        progress[data-state="failed"]::-webkit-progress-value { background: #dc3545; }
        .job-text { flex: 1; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
        button { color: white; background: #dc3545; border: 0; border-radius: 4px;
                 padding: 6px 12px; font-weight: 600; cursor: pointer; }
        button:disabled { opacity: 0.45; cursor: default; }
        """
    ]

    def _handle_msg(self, data) -> None:
        if data == "cancel" and self.value.get("cancellable"):
            self.param.trigger("cancel")


class Banner(JSComponent):
    """One line over the image saying why it is not the finished frame asked for.

    ``value["kind"]`` is ``"stale"`` (the image belongs to an older config),
    ``"preview"`` (a coarse preview of the config asked for; the full frame follows) or
    ``""`` (nothing to say: the line is empty); it is the line's ``data-stale``.
    """

    value = param.Dict(default={"kind": "", "text": ""}, doc="What the line says, and why.")

    _esm = """
    export function render({model, el}) {
      const line = document.createElement("div")
      line.className = "stale"
      el.appendChild(line)
      function draw() {
        line.textContent = model.value.text
        line.dataset.stale = model.value.kind || "false"
      }
      draw()
      model.on("value", draw)
    }
    """

    _stylesheets: ClassVar[list[str]] = [
        """
        .stale { border-radius: 4px; padding: 2px 8px; }
        .stale[data-stale="stale"] { background: #fff3cd; color: #664d03; }
        .stale[data-stale="preview"] { background: #e7f1ff; color: #084298; }
        """
    ]


class RecordTable(JSComponent):
    """A scrolling table of text rows, newest last; a click on a row reports its index.

    :meth:`append` sends one row to the browser (the table keeps the last :attr:`limit`
    and scrolls to the newest), where replacing :attr:`rows` sends them all. A message
    reaches only views that exist: each new view asks for the rows once it is drawn.
    """

    columns = param.List(default=[], item_type=str, doc="Column headers.")
    rows = param.List(default=[], doc="Rows of cell texts, oldest first.")
    limit = param.Integer(default=200, bounds=(1, None), doc="Rows kept.")
    clicked = param.Integer(default=None, allow_None=True, doc="Index of the row last clicked.")

    _esm = """
    export function render({model, el}) {
      const box = document.createElement("div")
      box.className = "rows"
      const table = document.createElement("table")
      const head = table.createTHead().insertRow()
      const body = table.createTBody()
      box.appendChild(table)
      el.appendChild(box)
      function headers() {
        head.replaceChildren(...model.columns.map((name) => {
          const th = document.createElement("th"); th.textContent = name; return th
        }))
      }
      function add(cells) {
        const tr = body.insertRow()
        for (const text of cells) tr.insertCell().textContent = text ?? ""
        while (body.rows.length > model.limit) body.deleteRow(0)
      }
      function all() {
        body.replaceChildren()
        for (const row of model.rows) add(row)
        box.scrollTop = box.scrollHeight
      }
      body.addEventListener("click", (event) => {
        const tr = event.target.closest("tr")
        if (tr) model.send_msg({row: tr.sectionRowIndex})
      })
      headers()
      all()
      model.on("columns", headers)
      model.on("rows", all)
      model.on("msg:custom", (msg) => {
        if (msg.rows) {
          body.replaceChildren()
          for (const cells of msg.rows) add(cells)
        }
        for (const cells of msg.append ?? []) add(cells)
        box.scrollTop = box.scrollHeight
      })
      // Rows appended before this view existed went nowhere: ask for all of them.
      model.send_msg({sync: true})
    }
    """

    _stylesheets: ClassVar[list[str]] = [
        """
        :host { display: block; font-size: 13px; }
        .rows { height: 100%; overflow-y: auto; border: 1px solid #dee2e6; border-radius: 4px; }
        table { border-collapse: collapse; width: 100%; }
        th { position: sticky; top: 0; background: #f8f9fa; text-align: left;
             border-bottom: 1px solid #dee2e6; }
        th, td { padding: 3px 8px; white-space: nowrap; }
        tbody tr { cursor: pointer; }
        tbody tr:nth-child(even) { background: #f8f9fa; }
        tbody tr:hover { background: #e7f1ff; }
        """
    ]

    def append(self, cells: list) -> None:
        """Add a row at the end (dropping the oldest beyond :attr:`limit`)."""
        with param.parameterized.discard_events(self):  # sent below, not as a new table
            self.rows = [*self.rows, list(cells)][-self.limit :]
        self._send_msg({"append": [list(cells)]})

    def _handle_msg(self, data) -> None:
        if not isinstance(data, dict):
            return
        if data.get("sync"):
            self._send_msg({"rows": self.rows})
            return
        row = data.get("row")
        if isinstance(row, int) and 0 <= row < len(self.rows):
            self.clicked = None  # so that the same row clicked again is a new click
            self.clicked = row
