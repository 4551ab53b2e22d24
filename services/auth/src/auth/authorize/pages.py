"""The sign-in, registration and consent pages: server-rendered HTML, no script."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import render_template_string
from werkzeug.wrappers import Response

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f5f2;color:#1d1d1b}
main{max-width:26rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px;
box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.5rem;margin-top:0}label{display:block;font-weight:600;margin-top:1rem}
input{box-sizing:border-box;width:100%;padding:.6rem;font:inherit;border:1px solid #6b6b6b;
border-radius:4px}
button,.provider{display:block;width:100%;margin-top:1.25rem;padding:.7rem;font:inherit;
font-weight:600;border:0;border-radius:4px;background:#1f5f4a;color:#fff;cursor:pointer}
.secondary{background:#e7e4dc;color:#1d1d1b}
:focus-visible{outline:3px solid #b35900;outline-offset:2px}
.error{border-left:4px solid #a01010;background:#fbeaea;padding:.6rem .8rem;margin:1rem 0}
.hint{color:#4a4a48;font-size:.9rem;margin:.25rem 0 0}
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{ title }} · Bazaar</title>
<style nonce="{{ nonce }}">{{ style }}</style>
</head>
<body>
<main>
<h1>{{ title }}</h1>
{% if error %}<p class="error" role="alert" id="form-error">{{ error }}</p>{% endif %}
{% if mode == "consent" %}
<p><strong>{{ client_name }}</strong> asks to know who you are at Bazaar
{%- if scopes %} ({{ scopes|join(", ") }}){% endif %}.</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="csrf_token" value="{{ csrf }}">
<input type="hidden" name="consent" value="{{ consent }}">
<button type="submit" name="action" value="allow">Allow</button>
<button type="submit" name="action" value="deny" class="secondary">Deny</button>
</form>
{% elif mode == "register" %}
<form method="post" action="{{ action }}"{% if error %} aria-describedby="form-error"{% endif %}>
<input type="hidden" name="csrf_token" value="{{ csrf }}">
<input type="hidden" name="request" value="{{ request_blob }}">
<label for="display_name">Your name</label>
<input id="display_name" name="display_name" value="{{ display_name }}" autocomplete="name"
 required maxlength="80">
<label for="email">Email</label>
<input id="email" name="email" type="email" value="{{ email }}" autocomplete="email" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required
 minlength="12" maxlength="128" aria-describedby="password-hint">
<p class="hint" id="password-hint">At least 12 characters; a common password is refused.</p>
<button type="submit" name="action" value="register">Create account</button>
</form>
<p>Already have an account? <a href="{{ login_link }}">Log in</a></p>
{% else %}
<form method="post" action="{{ action }}"{% if error %} aria-describedby="form-error"{% endif %}>
<input type="hidden" name="csrf_token" value="{{ csrf }}">
<input type="hidden" name="request" value="{{ request_blob }}">
<label for="email">Email</label>
<input id="email" name="email" type="email" value="{{ email }}" autocomplete="username"
 required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" name="action" value="login">Log in</button>
{% for provider in providers %}
<button type="submit" name="provider" value="{{ provider.name }}" class="provider secondary"
 formnovalidate>Continue with {{ provider.display_name }}</button>
{% endfor %}
</form>
<p>New here? <a href="{{ register_link }}">Create an account</a></p>
{% endif %}
</main>
</body>
</html>
"""


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def render_page(status: int, *, form_targets: Iterable[str] = (), **context: object) -> Response:
    """A page with a strict CSP: no script at all, forms post here (and redirect onwards)."""
    nonce = secrets.token_urlsafe(16)
    html = render_template_string(_PAGE, nonce=nonce, style=_STYLE, **context)
    # Chromium applies form-action to the redirects after a post, so the client's origin
    # (where the code goes) and the providers' are allowed too.
    targets = " ".join(sorted({origin(target) for target in form_targets}))
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self' {targets}; "
        "frame-ancestors 'none'; base-uri 'none'"
    ).replace("  ", " ")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
