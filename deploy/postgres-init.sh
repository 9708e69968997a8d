#!/bin/sh
# Run once by the postgres image on an empty data directory: MLflow gets its own role and
# database next to Dagster's (POSTGRES_USER / POSTGRES_DB). Credentials come from the env file.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v mlflow_user="$MLFLOW_PG_USERNAME" -v mlflow_password="$MLFLOW_PG_PASSWORD" <<'SQL'
CREATE ROLE :"mlflow_user" LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER :"mlflow_user";
SQL
