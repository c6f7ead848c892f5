"""Outbound: webhooks. tracecode drives them, following the log: each subscription's new
results are delivered to its destination (:mod:`.delivery`), only where the destination
policy allows (:mod:`.destinations`: no credentials, no private or loopback addresses)."""

from adapters.webhooks.delivery import WebhookDelivery, WebhookTargets, sign
from adapters.webhooks.destinations import CheckedBackend, DestinationPolicy, ForbiddenDestination

__all__ = [
    "CheckedBackend",
    "DestinationPolicy",
    "ForbiddenDestination",
    "WebhookDelivery",
    "WebhookTargets",
    "sign",
]
