"""Catalog settings: `BAZAAR_CATALOG_*`, falling back to `BAZAAR_*`."""

from chassis import ServiceSettings


class CatalogSettings(ServiceSettings):
    """Settings of the catalog service."""

    service_name = "catalog"
    default_port = 8001
