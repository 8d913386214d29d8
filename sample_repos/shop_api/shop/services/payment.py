"""Payment gateway client with retries.

The real gateway is flaky: it times out or returns 5xx now and then. Those
failures surface as :class:`PaymentGatewayError` and are retried with
exponential backoff. A decline (:class:`PaymentDeclinedError`) is final.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Optional

from shop.config import get_settings
from shop.errors import PaymentDeclinedError, PaymentGatewayError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaymentResult:
    payment_ref: str
    amount_cents: int
    attempts: int


class PaymentGateway:
    """Simulated card gateway.

    ``failure_rate`` is the probability that a call raises a transient
    :class:`PaymentGatewayError`; tokens starting with ``"tok_decline"`` are
    always declined.
    """

    def __init__(self, failure_rate: float = 0.2, rng: Optional[random.Random] = None) -> None:
        self.failure_rate = failure_rate
        self._rng = rng or random.Random()
        self.charges: dict[str, int] = {}

    def charge(self, amount_cents: int, payment_token: str, idempotency_key: str) -> str:
        if idempotency_key in self.charges:
            return idempotency_key
        if self._rng.random() < self.failure_rate:
            raise PaymentGatewayError("gateway timed out")
        if payment_token.startswith("tok_decline"):
            raise PaymentDeclinedError("card_declined")
        if amount_cents <= 0:
            raise PaymentDeclinedError("invalid_amount")
        self.charges[idempotency_key] = amount_cents
        return idempotency_key

    def refund(self, payment_ref: str) -> None:
        if payment_ref not in self.charges:
            raise PaymentDeclinedError(f"unknown payment {payment_ref}")
        del self.charges[payment_ref]


def charge_with_retry(
    gateway: PaymentGateway,
    amount_cents: int,
    payment_token: str,
    idempotency_key: Optional[str] = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PaymentResult:
    """Charge a card, retrying transient gateway failures.

    Waits ``2 ** attempt`` seconds after failed attempt number ``attempt``
    (1, 2, 4, 8, ...). The same idempotency key is reused on every attempt so
    a charge that succeeded but timed out on the way back is not taken twice.
    """
    max_retries = get_settings().payment_max_retries
    key = idempotency_key or f"pay_{uuid.uuid4().hex}"
    last_error: Optional[PaymentGatewayError] = None
    for attempt in range(max_retries + 1):
        try:
            ref = gateway.charge(amount_cents, payment_token, key)
            return PaymentResult(payment_ref=ref, amount_cents=amount_cents, attempts=attempt + 1)
        except PaymentGatewayError as exc:
            last_error = exc
            if attempt == max_retries:
                break
            delay = 2 ** attempt
            log.warning("payment attempt %d failed (%s); retrying in %ss", attempt + 1, exc.detail, delay)
            sleep(delay)
    raise PaymentGatewayError(
        last_error.detail if last_error else "unknown error", attempts=max_retries + 1
    )


def refund_payment(gateway: PaymentGateway, payment_ref: str) -> None:
    gateway.refund(payment_ref)
    log.info("refunded %s", payment_ref)
