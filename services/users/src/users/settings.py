"""Users settings: `BAZAAR_USERS_*`, falling back to `BAZAAR_*`."""

from chassis import ServiceSettings


class UsersSettings(ServiceSettings):
    """Settings of the users service."""

    service_name = "users"
    default_port = 8003
