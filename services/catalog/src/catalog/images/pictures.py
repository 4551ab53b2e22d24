"""A demo product's picture: its SVG, that SVG's digest (in the URL), and WebP renditions."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache

import resvg_py
from PIL import Image

from catalog.images.drawings import DRAWINGS

# Widths the storefront asks for in `srcset`; no other is rendered (a fixed set keeps
# every cache small and a caller from making the catalog render arbitrary sizes).
WIDTHS = (320, 480, 640)
# Public path under the gateway; the catalog serves it as /images/...
PUBLIC_PREFIX = "/api/catalog/images/"
# Per line of the demo catalog (the adjective): backdrop top, backdrop bottom, object, detail.
PALETTES: dict[str, tuple[str, str, str, str]] = {
    "classic": ("#f6efe6", "#eadbc8", "#9c6b3f", "#5a3b22"),
    "compact": ("#eef3f7", "#d9e4ee", "#5b7c99", "#2f4558"),
    "everyday": ("#f3f1ea", "#e4e0d0", "#c7893e", "#6d4a1f"),
    "heritage": ("#f4ece8", "#e6d3cb", "#7a3e2e", "#3f1f17"),
    "nordic": ("#eef5f1", "#d6e8de", "#5f9a80", "#2d5646"),
    "studio": ("#efeff2", "#dcdce3", "#4a4e5a", "#1f2128"),
}


@dataclass(frozen=True)
class Picture:
    """The picture of one demo product, named `<line>-<kind>` like the product's slug."""

    name: str
    svg: str

    @property
    def digest(self) -> str:
        """Twelve hex digits of the SVG's SHA-256: a new drawing is a new URL."""
        return hashlib.sha256(self.svg.encode()).hexdigest()[:12]

    @property
    def url(self) -> str:
        """The public, immutable URL of the SVG."""
        return f"{PUBLIC_PREFIX}{self.name}.{self.digest}.svg"


def picture(name: str) -> Picture | None:
    """The picture called `name` (`classic-chefs-knife`), or None if there is none."""
    line, _, kind = name.partition("-")
    drawing = DRAWINGS.get(kind)
    palette = PALETTES.get(line)
    if drawing is None or palette is None:
        return None
    return Picture(name, _svg(name, *palette, drawing(palette[2], palette[3])))


def _svg(name: str, top: str, bottom: str, _main: str, detail: str, body: str) -> str:
    gradient = f"bg-{name}"
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 400" width="400" height="400">'
        f'<defs><linearGradient id="{gradient}" x1="0" y1="0" x2="0" y2="1">'
        f'<stop offset="0" stop-color="{top}"/><stop offset="1" stop-color="{bottom}"/>'
        f'</linearGradient></defs><rect width="400" height="400" fill="url(#{gradient})"/>'
        f'<ellipse cx="200" cy="334" rx="150" ry="16" fill="{detail}" opacity="0.12"/>'
        f"{body}</svg>"
    )


@lru_cache(maxsize=256)
def webp(name: str, width: int) -> bytes | None:
    """The picture rendered `width` pixels wide as WebP; None for an unknown name or width."""
    found = picture(name)
    if found is None or width not in WIDTHS:
        return None
    png = resvg_py.svg_to_bytes(
        svg_string=found.svg, width=width, height=width, skip_system_fonts=True
    )
    out = io.BytesIO()
    Image.open(io.BytesIO(bytes(png))).save(out, "WEBP", quality=80, method=4)
    return out.getvalue()
