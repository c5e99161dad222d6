"""Prometheus metrics of the webhook adapter (the default registry; its health port serves
them). Label children are bound once per adapter (`AdapterMetrics`)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["DELIVERIES", "RETRIES", "AdapterMetrics"]

DELIVERIES = Counter(
    "kuzet_adapter_deliveries",
    "Events an outbound adapter finished, by adapter and outcome (delivered: receipted; "
    "parked: refused by the receiver, out of attempts or unreadable; duplicate: already "
    "receipted, only the checkpoint moved)",
    ["adapter", "outcome"],
)
RETRIES = Counter(
    "kuzet_adapter_retries",
    "Delivery attempts after the first (transient failures: connection errors, timeouts, "
    "408, 429, 5xx), by adapter",
    ["adapter"],
)


class AdapterMetrics:
    """One adapter's children: `delivered`, `parked`, `duplicate`, `retries`."""

    def __init__(self, adapter: str) -> None:
        self.delivered = DELIVERIES.labels(adapter, "delivered")
        self.parked = DELIVERIES.labels(adapter, "parked")
        self.duplicate = DELIVERIES.labels(adapter, "duplicate")
        self.retries = RETRIES.labels(adapter)
