#!/usr/bin/env bash
# Outside CI: build the gateway's image with podman and show it serving /health from a volume.
#
# Base images cannot be pulled here, so the Debian bookworm base is made with debootstrap from
# the machine's own Debian mirror (the one apt uses) and `podman import`ed; the Dockerfile's
# BASE_IMAGE then points at it. Needs root, podman, runc and debootstrap (installed when missing).
#   make image-check                       # or: bash scripts/image-check.sh
#   KEEP=1 make image-check                # leave the container, volume and image for a look
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/ltplabs-gateway:check}
BASE=${BASE:-localhost/ltplabs-debian-base:bookworm}
WORK=${WORK:-/var/tmp/ltplabs-image}
NAME=ltplabs-image-check
VOLUME=ltplabs-image-check-data
PORT=${PORT:-3999}
PODMAN=(podman --runtime runc)
# Podman raises the open-file and process limits to its own defaults; a sandboxed host may forbid
# that (runc: "error setting rlimit ... operation not permitted"). 16384 of each is plenty for gunicorn.
limit() { local value; value=$(ulimit -H"$1"); { [ "$value" = unlimited ] || [ "$value" -gt 16384 ]; } && value=16384; echo "$value"; }
RUN_ARGS=(--ulimit "nofile=$(limit n):$(limit n)" --ulimit "nproc=$(limit u):$(limit u)")
# The HEALTHCHECK runs from a systemd timer, and a machine without systemd only logs errors for it.
RUN_ARGS+=(--no-healthcheck)

step() { printf '\n== %s\n' "$*"; }

if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null || ! command -v runc >/dev/null; then
  step "installing podman, runc and debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap uidmap >/dev/null
fi

# The mirror apt already uses, so this reaches nothing the machine does not.
MIRROR=${DEBIAN_MIRROR:-$( (grep -rshoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ || true) \
  | grep -oE 'https?://[^ ]+' | head -n1)}

if ! "${PODMAN[@]}" image exists "$BASE"; then
  step "debootstrap bookworm (minbase) from ${MIRROR:?no Debian mirror found in apt sources; set DEBIAN_MIRROR}"
  mkdir -p "$WORK"
  if [ ! -x "$WORK/rootfs/usr/bin/apt-get" ]; then
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
      || { tail -n 20 "$WORK/debootstrap.log"; exit 1; }
  fi
  # Debian's slim images drop the same: downloaded packages, package lists, docs and man pages.
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"* \
    "$WORK/rootfs/usr/share/doc/"* "$WORK/rootfs/usr/share/man/"* "$WORK/rootfs/usr/share/locale/"*
  step "podman import -> $BASE"
  tar -C "$WORK/rootfs" -c . | "${PODMAN[@]}" import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
fi

step "podman build -> $IMAGE"
# Host networking for the build's apt-get and pip: they reach only the registries the host reaches.
# The host's CA bundle goes in as a build secret, for networks that inspect TLS (pip verifies against it).
CA=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
SECRET_ARGS=()
[ -s "$CA" ] && SECRET_ARGS=(--secret "id=pip_ca,src=$CA")
"${PODMAN[@]}" build --format docker --network host "${SECRET_ARGS[@]}" --build-arg "BASE_IMAGE=$BASE" -t "$IMAGE" -f Dockerfile .

cleanup() {
  if [ "${KEEP:-0}" != 1 ]; then
    "${PODMAN[@]}" rm -f "$NAME" >/dev/null 2>&1 || true
    "${PODMAN[@]}" volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    "${PODMAN[@]}" image prune -f >/dev/null 2>&1 || true  # the untagged build stages of earlier runs
  fi
}
trap cleanup EXIT
cleanup

secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }
ENV_ARGS=(-e DJANGO_DEBUG=0 -e DJANGO_TLS=0 -e "DJANGO_SECRET_KEY=$(secret)" -e "JWT_SECRET=$(secret)" -e "PORT=$PORT")

step "volume $VOLUME: initdb --sample 100 as the image's user"
"${PODMAN[@]}" volume create "$VOLUME" >/dev/null
"${PODMAN[@]}" run "${RUN_ARGS[@]}" --rm --network host --read-only --tmpfs /tmp -v "$VOLUME:/data" "${ENV_ARGS[@]}" "$IMAGE" \
  python manage.py initdb --sample 100

step "run the gateway on 127.0.0.1:$PORT (read-only root, tmpfs /tmp, the volume at /data)"
"${PODMAN[@]}" run "${RUN_ARGS[@]}" -d --name "$NAME" --network host --read-only --tmpfs /tmp -v "$VOLUME:/data" "${ENV_ARGS[@]}" "$IMAGE" >/dev/null

status=000
for _ in $(seq 60); do
  status=$(curl -s -o /tmp/ltplabs-image-check.json -w '%{http_code}' "http://127.0.0.1:$PORT/health" || true)
  [ "$status" = 200 ] && break
  sleep 1
done
echo "GET /health -> $status $(cat /tmp/ltplabs-image-check.json 2>/dev/null)"
echo "GET /health/ready -> $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health/ready")"
echo "GET /static/admin/css/base.css -> $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/static/admin/css/base.css")"
echo "user in the container: $("${PODMAN[@]}" exec "$NAME" id)"
echo "image size: $("${PODMAN[@]}" image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.1f MB", $1 / 1e6}')"

step "podman stop (SIGTERM: graceful shutdown)"
"${PODMAN[@]}" stop -t 30 "$NAME" >/dev/null
echo "exit code: $("${PODMAN[@]}" inspect "$NAME" --format '{{.State.ExitCode}}')"
"${PODMAN[@]}" logs "$NAME" 2>&1 | tail -n 8

[ "$status" = 200 ] || { echo "FAILED: /health answered $status"; exit 1; }
echo "image-check: ok"
