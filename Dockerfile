# The LTP Labs API gateway: gunicorn serving Django on :3000, as UID/GID 10001, the database on /data.
# BASE_IMAGE is any Debian bookworm image; scripts/image-check.sh builds one with debootstrap.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# A network that inspects TLS hands its CA in as the build secret pip_ca; it is never stored in a layer.
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt \
 && /opt/venv/bin/pip uninstall -y -q pip setuptools
COPY . /app
WORKDIR /app
# collectstatic imports the settings, which refuse to load without strong keys: this step makes two
# random ones that live only in its environment (no layer, no image setting keeps them).
RUN key() { /opt/venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(64))'; } \
 && DJANGO_DEBUG=0 DJANGO_SECRET_KEY="$(key)" JWT_SECRET="$(key)" \
    /opt/venv/bin/python manage.py collectstatic --noinput -v 0 \
 && /opt/venv/bin/python -m compileall -q /app

FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 ltplabs \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ltplabs \
 && mkdir -p /data \
 && chown 10001:10001 /data
# Code and venv stay root-owned: the gateway's user may write only to /data and /tmp.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_PATH=/data/ltplabs.db \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    DJANGO_CACHE_DIR=/tmp/ltplabs-gateway-cache \
    PORT=3000
WORKDIR /app
USER 10001:10001
EXPOSE 3000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('PORT', '3000'), timeout=4)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "ltplabs.wsgi"]
