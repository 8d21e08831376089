#!/usr/bin/env bash
# Fuzzes the REST API with Schemathesis against its OpenAPI document (see scripts/fuzz-api.ts).
# Uses DATABASE_URL's PostgreSQL when set (a scratch database, dropped afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx scripts/fuzz-api.ts "$@"
