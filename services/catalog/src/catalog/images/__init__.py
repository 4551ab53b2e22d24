"""Product pictures for the demo catalog: drawn as SVG by code, WebP renditions on request."""
