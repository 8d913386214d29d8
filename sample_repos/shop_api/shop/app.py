"""Application factory."""

from __future__ import annotations

from shop.routes import cart_routes, checkout_routes, product_routes
from shop.web import App


def create_app() -> App:
    """Build the app with every router registered."""
    app = App()
    app.register(product_routes.router)
    app.register(cart_routes.router)
    app.register(checkout_routes.router)
    return app
