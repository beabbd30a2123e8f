#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries are installed, for the shared-project tests
# (each test session starts its own throwaway server from them; see
# annotator/dataset/pg_server.py). On Debian / Ubuntu as root (CI), installs them with apt
# without creating or starting the package's default cluster. Elsewhere it only says that
# those tests will be skipped.
set -euo pipefail
if [ -n "${DPSTUDIO_PG_BIN:-}" ] || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "note: no PostgreSQL server binaries; the shared-project tests will be skipped" \
        "(install postgresql-15, or set DPSTUDIO_PG_BIN)" >&2
    exit 0
fi
echo "installing the PostgreSQL server binaries (apt-get install postgresql-15)..." >&2
mkdir -p /etc/postgresql-common
if ! grep -qs "^create_main_cluster" /etc/postgresql-common/createcluster.conf; then
    echo "create_main_cluster = false" >> /etc/postgresql-common/createcluster.conf
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql-15 >/dev/null 2>&1 || apt-get install -y -qq postgresql >/dev/null
