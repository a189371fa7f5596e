"""The example of an app's own computation (pricing.OptionPrice), through the engine: an
estimate the closed form confirms, batches streamed, de-duplicated, cancelled, recorded
and restored; on a fresh in-process cluster per test."""

from __future__ import annotations

import pytest

import pricing
from compute.engine import ClusterConnection, Engine, JobCancelled, ResultCache, ResultStore
from compute.engine.diagnostics import ExecutionCounter, executed_tasks
from compute.engine.testing import gen_cluster


def test_the_black_scholes_formula_matches_published_values():
    # Hull, Options, Futures and Other Derivatives, example 15.6: S=42, K=40, r=10%,
    # sigma=20%, T=0.5 gives a call of 4.76.
    assert pricing.black_scholes(42, 40, 0.1, 0.2, 0.5) == pytest.approx(4.76, abs=0.005)


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_an_option_priced_on_the_cluster_agrees_with_the_closed_form(tmp_path):
    async with gen_cluster() as client:
        await client.register_plugin(ExecutionCounter())
        store = ResultStore(tmp_path)
        engine = Engine(ClusterConnection(client.scheduler.address), store=store,
                        cache=ResultCache(), kinds=[pricing.OptionPrice])  # fmt: skip
        try:
            one, two = await engine.manager(), await engine.manager(owner="ann")
            work = pricing.OptionPrice(batches=8, paths=20_000, seed=7)
            job = one.submit(work)
            assert two.submit(pricing.OptionPrice(batches=8, paths=20_000, seed=7)) is job
            batches = [part async for part in job]  # streamed as they finish
            assert sorted(p.index for p in batches) == list(range(8))
            result = await job.result()
            assert result["paths"] == 160_000
            # The estimate is within four standard errors of the exact price.
            assert abs(result["price"] - result["exact"]) < 4 * result["stderr"]
            assert result["exact"] == pytest.approx(pricing.black_scholes(100, 100, 0.05, 0.2, 1))
            assert job.describe().endswith("(8 batches)")
            ran = [k for k, _ in await executed_tasks(client, "option")]
            assert len(ran) == 8  # once, for both managers
            # A new request supersedes: the old one's queued batches never run.
            slow = one.submit(pricing.OptionPrice(batches=64, paths=1_000_000, seed=8))
            one.submit(pricing.OptionPrice(batches=1, paths=1_000, seed=9))
            assert slow.state == "cancelled"
            with pytest.raises(JobCancelled):
                await slow.result()
            await (await engine.registry()).flush()
            record = next(r for r in store.history(owner="ann") if r.key == job.key)
            assert (record.kind, record.state) == ("option", "done")
            assert engine.kinds.restore(record).key == job.key
        finally:
            await engine.close()
