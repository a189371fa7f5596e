"""A European call option priced by Monte-Carlo: your own computation behind the engine.

Not a fractal: what a data-app team would put behind a page and an HTTP API. The price
of a call is the discounted expected payoff ``exp(-rT) E[max(S_T - K, 0)]`` under
geometric Brownian motion; each part simulates one batch of paths on a worker and the
estimate (with its standard error) combines them. The Black-Scholes formula gives the
exact price, to check the estimate against.

This module is all it takes: a kind registered with an engine
(``Engine(kinds=[OptionPrice])``, or ``FRACTAL_KINDS=pricing:OptionPrice`` for the app
and its API), importable by the workers (it is installed with the project).
"""

import math

import numpy as np
import param

from compute.engine import PartsWork


def simulate(spot, strike, rate, volatility, years, paths, seed) -> tuple[int, float, float]:
    """One batch (a task on a worker): the count, sum and sum of squares of the payoffs."""
    shocks = np.random.default_rng(seed).standard_normal(paths)
    drift = (rate - volatility**2 / 2) * years
    final = spot * np.exp(drift + volatility * math.sqrt(years) * shocks)
    payoff = np.maximum(final - strike, 0.0) * math.exp(-rate * years)
    return paths, float(payoff.sum()), float((payoff**2).sum())


def black_scholes(spot, strike, rate, volatility, years) -> float:
    """The exact price of the call, for comparison."""
    d1 = (math.log(spot / strike) + (rate + volatility**2 / 2) * years) / (
        volatility * math.sqrt(years)
    )
    d2 = d1 - volatility * math.sqrt(years)
    cdf = lambda x: (1 + math.erf(x / math.sqrt(2))) / 2  # noqa: E731
    return spot * cdf(d1) - strike * math.exp(-rate * years) * cdf(d2)


class OptionPrice(PartsWork, param.Parameterized):
    """A European call's price by Monte-Carlo, in batches of paths (a part each)."""

    kind = "option"
    http = True  # clients of the HTTP API may ask for it
    noun = ("batch", "batches")

    spot = param.Number(100.0, bounds=(0.01, 1e6), doc="Price of the asset today.")
    strike = param.Number(100.0, bounds=(0.01, 1e6), doc="Price the option buys at.")
    rate = param.Number(0.05, bounds=(-0.1, 1.0), doc="Risk-free rate, a year.")
    volatility = param.Number(0.2, bounds=(0.01, 5.0), doc="Volatility, a year.")
    years = param.Number(1.0, bounds=(0.01, 50.0), doc="Time to expiry, in years.")
    batches = param.Integer(16, bounds=(1, 256), doc="Batches of paths: the parts.")
    paths = param.Integer(100_000, bounds=(1_000, 1_000_000), doc="Paths in a batch.")
    seed = param.Integer(0, bounds=(0, None), doc="Seed: equal requests, equal results.")

    @property
    def cost(self) -> float:
        return float(self.batches * self.paths)  # paths simulated

    def summary(self) -> str:
        return f"call S={self.spot:g} K={self.strike:g} T={self.years:g}, {self.batches} batches"

    def tasks(self) -> list:
        market = (self.spot, self.strike, self.rate, self.volatility, self.years)
        return [(simulate, (*market, self.paths, [self.seed, i])) for i in range(self.batches)]

    def combine(self, values: list) -> dict:
        n = sum(v[0] for v in values)
        mean = sum(v[1] for v in values) / n
        variance = max(sum(v[2] for v in values) / n - mean**2, 0.0)
        market = (self.spot, self.strike, self.rate, self.volatility, self.years)
        exact = black_scholes(*market)
        return {"price": mean, "stderr": math.sqrt(variance / n), "paths": n, "exact": exact}
