#!/bin/sh
# The container's commands:
#   web          gunicorn serving wsgi:app on $PORT (default 8000)
#   worker       a scoring worker (`challenge worker`); scale with --scale worker=N
#   migrate      bring the database schema up to date (`challenge db upgrade`)
#   healthcheck web|worker   (web: GET /healthz answers 200: database and Redis reachable)
#   anything else runs as given, e.g. `challenge users create ...`
set -eu

cd /app 2>/dev/null || cd "$(dirname "$0")/.."

case "${1:-web}" in
web)
    [ $# -gt 0 ] && shift
    # One list of trusted proxies for gunicorn and the app (challenge.security).
    export FORWARDED_ALLOW_IPS="${FORWARDED_ALLOW_IPS:-127.0.0.1}"
    # gthread: uploads are I/O-bound and their format check releases the GIL in
    # numpy; threads keep a slow upload from holding a whole process.
    exec gunicorn \
        --bind "0.0.0.0:${PORT:-8000}" \
        --worker-class gthread \
        --workers "${WEB_CONCURRENCY:-2}" \
        --threads "${WEB_THREADS:-4}" \
        --timeout 120 \
        --forwarded-allow-ips "$FORWARDED_ALLOW_IPS" \
        --access-logfile - \
        --no-control-socket \
        "$@" \
        wsgi:app
    ;;
worker)
    shift
    exec challenge worker "$@"
    ;;
migrate)
    shift
    exec challenge db upgrade "$@"
    ;;
healthcheck)
    case "${2:-web}" in
    web)
        exec python -c 'import os, urllib.request; urllib.request.urlopen("http://127.0.0.1:%s/healthz" % os.environ.get("PORT", "8000"), timeout=4)'
        ;;
    worker)
        # Healthy when a worker started on this host is registered in Redis (RQ
        # drops a worker whose heartbeat stopped).
        exec python -c 'import os, socket, sys; from redis import Redis; from rq import Worker; r = Redis.from_url(os.environ["REDIS_URL"]); sys.exit(0 if any(w.hostname == socket.gethostname() for w in Worker.all(connection=r)) else 1)'
        ;;
    *)
        echo "healthcheck: expected 'web' or 'worker', got '$2'" >&2
        exit 2
        ;;
    esac
    ;;
*)
    exec "$@"
    ;;
esac
