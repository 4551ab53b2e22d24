"""The ceiling: a plain Flask hello-world under the same gunicorn settings as the services."""

from flask import Flask


def create_app() -> Flask:
    """The cheapest possible JSON endpoint; served as `bench.hello:create_app()`, like a service."""
    app = Flask(__name__)

    @app.get("/")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app
