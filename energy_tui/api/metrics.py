"""Prometheus metrics (prometheus-client): requests by route and status with latency
histograms, orders placed, trades, placement latency, database connections in use.

Each application has its own registry (tests build several). With `--workers N` the
server sets PROMETHEUS_MULTIPROC_DIR (a fresh directory) before the workers start:
each worker then keeps its values in files there, and a scrape, whichever worker
answers it, reads them all (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from energy_tui.services.market.views import PlaceResult

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    def __init__(self, database: Any) -> None:
        self.database = database
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "energy_api_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "energy_api_request_duration_seconds",
            "HTTP request latency by route",
            ["route", "method"],
            registry=r,
        )
        self.orders = Counter(
            "energy_api_orders_placed",
            "Orders placed, by side and resulting status",
            ["side", "status"],
            registry=r,
        )
        self.trades = Counter("energy_api_trades", "Trades made by orders placed here", registry=r)
        self.placement_seconds = Histogram(
            "energy_api_order_placement_seconds",
            "Time the market took to place an order (lock, match, settle, commit)",
            registry=r,
        )
        self.pool_in_use = Gauge(
            "energy_api_db_connections_in_use",
            "Database connections checked out of the server's pools",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.stream_clients = Gauge(
            "energy_api_stream_clients",
            "Clients of the live market stream",
            registry=r,
            multiprocess_mode="livesum",
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:  # labels() checks and locks: once per route, method, status
            children = self._children[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
        count, latency = children
        count.inc()
        latency.observe(seconds)

    def placed(self, result: PlaceResult) -> None:
        self.orders.labels(result.order.side, result.order.status).inc()
        if result.fills:
            self.trades.inc(len(result.fills))

    def render(self) -> bytes:
        database = getattr(self.database, "obj", self.database)  # through the proxy
        in_use = getattr(database, "_in_use", None)  # Peewee's pooled databases
        self.pool_in_use.set(len(in_use) if in_use is not None else 0)
        if os.environ.get(MULTIPROCESS_ENV):
            every_worker = CollectorRegistry()
            MultiProcessCollector(every_worker)
            return generate_latest(every_worker)
        return generate_latest(self.registry)
