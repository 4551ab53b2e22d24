"""The ceiling: a plain Flask hello-world under the same gunicorn settings as the services."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> dict[str, str]:
    """The cheapest possible JSON response."""
    return {"hello": "world"}
