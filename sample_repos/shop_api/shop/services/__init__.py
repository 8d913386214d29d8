"""Business logic that sits between the routes and the models."""
