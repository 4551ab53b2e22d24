#!/usr/bin/env bash
# One database per service, owned by a role of the same name, so no service can read
# another's tables. Run once by the postgres image on an empty data volume
# (/docker-entrypoint-initdb.d); each role's password comes from <SERVICE>_DB_PASSWORD.
set -euo pipefail

for service in auth catalog orders payments users; do
    var="${service^^}_DB_PASSWORD"
    password="${!var:?$var is not set (see deploy/.env.example)}"
    # psql variables (:"name", :'password') quote identifiers and literals for us.
    psql --set ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set name="$service" --set password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
