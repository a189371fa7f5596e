"""The option pricer, served: ``panel serve pricing/app.py --plugins api``.

The engine's job components (status and history) on the app's own engine, with its own
kind of work registered; the same kind is open to the HTTP API (``kind: "option"``).
"""

import panel as pn

from components.jobs import JobHistory, JobStatus
from components.wiring import prestart, process_engine
from pricing import OptionPrice

pn.extension()
engine = process_engine()
engine.kinds.register(OptionPrice)  # idempotent: every session runs this script
prestart()

request = OptionPrice()
status, history = JobStatus(), JobHistory()
consumer = []  # this page's one JobManager (the script runs once per page)
answer = pn.pane.Markdown("Set the option, then ask for its price.", css_classes=["answer"])


async def price(_event=None) -> None:
    if not consumer:
        consumer.append(await engine.manager())
    job = consumer[0].submit(OptionPrice(**request.to_dict()))
    status.job = job
    try:
        result = await job.result()
    finally:
        history.add(job.record())
    answer.object = (
        f"**{result['price']:.4f}** ± {result['stderr']:.4f} from {result['paths']:,} paths "
        f"(Black-Scholes: {result['exact']:.4f})"
    )


button = pn.widgets.Button(name="Price it", button_type="primary", css_classes=["price"])
button.on_click(price)
pn.Column(
    "## A European call, by Monte-Carlo on Dask",
    pn.Param(request, parameters=list(request.to_dict()), show_name=False),
    button,
    status,
    answer,
    history,
).servable(title="Option pricer")
