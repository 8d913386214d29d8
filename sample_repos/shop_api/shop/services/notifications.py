"""Outgoing e-mail.

Messages are built as :class:`EmailMessage` values and handed to a
transport. The default transport speaks SMTP; tests install an
:class:`OutboxTransport` that just records what would have been sent.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage as _MimeMessage
from typing import TYPE_CHECKING, Iterable, List, Protocol

from shop.config import get_settings
from shop.services.pricing import format_cents

if TYPE_CHECKING:
    from shop.models.customer import Customer
    from shop.models.order import Order
    from shop.models.product import Product

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmailMessage:
    to: str
    subject: str
    body: str


class MailTransport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    def send(self, message: EmailMessage) -> None:
        settings = get_settings()
        mime = _MimeMessage()
        mime["From"] = settings.mail_from
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime.set_content(message.body)
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=5) as smtp:
            smtp.send_message(mime)


class OutboxTransport:
    """Collects messages in memory instead of sending them."""

    def __init__(self) -> None:
        self.outbox: List[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.outbox.append(message)


_transport: MailTransport = SmtpTransport()


def set_transport(transport: MailTransport) -> None:
    global _transport
    _transport = transport


def send_email(message: EmailMessage) -> bool:
    """Send one message; failures are logged, never raised to the caller."""
    try:
        _transport.send(message)
        return True
    except (OSError, smtplib.SMTPException) as exc:
        log.error("could not send %r to %s: %s", message.subject, message.to, exc)
        return False


def send_order_confirmation(customer: "Customer", order: "Order") -> bool:
    lines = "\n".join(
        f"  {line.quantity} x {line.name}  {format_cents(line.line_total_cents)}" for line in order.lines
    )
    body = (
        f"Hi {customer.first_name},\n\n"
        f"Thanks for your order {order.id}.\n\n{lines}\n\n"
        f"Subtotal: {format_cents(order.subtotal_cents)}\n"
        f"Tax:      {format_cents(order.tax_cents)}\n"
        f"Shipping: {format_cents(order.shipping_cents)}\n"
        f"Total:    {format_cents(order.total_cents)}\n\n"
        f"Shipping to {customer.shipping_address.one_line()}\n"
    )
    return send_email(EmailMessage(to=customer.email, subject=f"Order {order.id} confirmed", body=body))


def send_low_stock_alert(products: Iterable["Product"]) -> bool:
    products = list(products)
    if not products:
        return False
    body = "\n".join(f"{p.sku} ({p.name}): {p.stock} left" for p in products)
    subject = f"Low stock: {len(products)} product(s)"
    return send_email(EmailMessage(to=get_settings().admin_email, subject=subject, body=body))
