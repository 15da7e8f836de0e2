"""What an operator deploys: the k8s/ manifests as kustomize renders them, validated against
Kubernetes 1.31's schemas; docker-compose.yml; the Dockerfile; production settings; and
gunicorn.conf.py's JSON logs and graceful shutdown on a real gunicorn."""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.fixtures import IS_POSTGRES, ROOT, collect_static, free_port, gateway_env, make_database_file, manage

K8S = ROOT / "k8s"
KUSTOMIZATIONS = sorted(path.parent.relative_to(K8S).as_posix() for path in K8S.rglob("kustomization.yaml"))
KUBERNETES_VERSION = "1.31.0"
GATEWAY_UID = 10001


def kubectl() -> str:
    path = shutil.which("kubectl") or "/usr/bin/kubectl"
    assert Path(path).exists(), "kubectl is needed to render k8s/ (kubectl kustomize)"
    return path


def render(folder: str) -> list[dict]:
    result = subprocess.run([kubectl(), "kustomize", str(K8S / folder)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
    return matches[0]


def pod_spec(workload: dict) -> dict:
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return workload["spec"]["template"]["spec"]


def env_of(container: dict) -> dict:
    return {item["name"]: item for item in container.get("env", [])}


def mounts_of(container: dict) -> dict:
    return {mount["mountPath"]: mount for mount in container.get("volumeMounts", [])}


def same_node_as_gateway(spec: dict) -> bool:
    terms = spec.get("affinity", {}).get("podAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
    return any(
        term["topologyKey"] == "kubernetes.io/hostname"
        and term["labelSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == "api-gateway"
        for term in terms
    )


# --- k8s/: renders, validates, and says what the README promises -------------------------------


def test_every_k8s_folder_has_a_kustomization():
    assert {"base", "overlays/postgres", "examples/analytics", "examples/backup", "examples/litestream", "examples/demo-service"} <= set(
        KUSTOMIZATIONS
    )


def validate(docs: list[dict], tmp_path) -> subprocess.CompletedProcess:
    """kubernetes-validate --strict on the manifests, against Kubernetes KUBERNETES_VERSION."""
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(docs))
    return subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION, "--quiet", str(rendered)],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
def test_kustomization_renders_and_passes_strict_schema_validation(folder, tmp_path):
    docs = render(folder)
    assert docs
    result = validate(docs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_strict_validation_rejects_a_misspelt_field(tmp_path):
    deployment = find(render("base"), "Deployment", "api-gateway")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesytem"] = True
    assert validate([deployment], tmp_path).returncode != 0


def test_example_secrets_validate_and_are_obviously_not_real(tmp_path):
    examples = sorted(K8S.rglob("*secret.example.yaml"))
    assert examples
    for path in examples:
        result = subprocess.run(
            [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION, "--quiet", str(path)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout
        for secret in yaml.safe_load_all(path.read_text()):
            assert secret["kind"] == "Secret"
            assert all("EXAMPLE-NOT-A-REAL" in value for value in secret["stringData"].values())


def test_no_kustomization_applies_a_secret():
    # `kubectl apply -k` must never replace the real Secrets with the examples.
    for folder in KUSTOMIZATIONS:
        assert not [doc for doc in render(folder) if doc["kind"] == "Secret"], folder


def test_base_runs_one_gateway_replica_recreated_on_the_sqlite_volume():
    docs = render("base")
    deployment = find(docs, "Deployment", "api-gateway")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    spec = pod_spec(deployment)
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    (gateway,) = spec["containers"]
    data = mounts_of(gateway)["/data"]
    assert volumes[data["name"]]["persistentVolumeClaim"]["claimName"] == "sqlite-pvc"
    assert not data.get("readOnly", False)
    assert env_of(gateway)["DATABASE_PATH"]["value"] == "/data/ltplabs.db"
    pvc = find(docs, "PersistentVolumeClaim", "sqlite-pvc")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    service = find(docs, "Service", "api-gateway")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["port"] == 3000
    assert gateway["ports"][0]["containerPort"] == 3000


def test_base_takes_its_keys_from_secrets():
    spec = pod_spec(find(render("base"), "Deployment", "api-gateway"))
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    (gateway,) = spec["containers"]
    signing_file = Path(env_of(gateway)["JWT_SIGNING_KEY_FILE"]["value"])
    assert signing_file.name == "JWT_SIGNING_KEY"
    signing_mount = mounts_of(gateway)[str(signing_file.parent)]
    assert volumes[signing_mount["name"]]["secret"]["secretName"] == "gateway-signing-key" and signing_mount["readOnly"]
    for container in spec["containers"] + spec["initContainers"]:
        env = env_of(container)
        assert "JWT_SECRET" not in env
        key_file = Path(env["DJANGO_SECRET_KEY_FILE"]["value"])
        mount = mounts_of(container)[str(key_file.parent)]
        assert volumes[mount["name"]]["secret"]["secretName"] == "api-gateway-secret"
        assert "DJANGO_SECRET_KEY" not in env or "valueFrom" in env["DJANGO_SECRET_KEY"]
        assert env["DJANGO_DEBUG"]["value"] == "0"


def secrets_of(spec: dict) -> set[str]:
    """Every Secret a pod can read: mounted, or through env and envFrom."""
    names = {volume["secret"]["secretName"] for volume in spec.get("volumes", []) if "secret" in volume}
    for volume in spec.get("volumes", []):
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                names.add(source["secret"]["name"])
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        for item in container.get("env", []):
            if "secretKeyRef" in item.get("valueFrom", {}):
                names.add(item["valueFrom"]["secretKeyRef"]["name"])
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                names.add(source["secretRef"]["name"])
    return names


def test_only_the_gateway_container_holds_a_token_key_in_every_folder():
    """The signing key can mint any token: the gateway's own container mounts it, no init
    container, CronJob or consumer gets it, and no pod at all gets JWT_SECRET."""
    holders = []
    for folder in KUSTOMIZATIONS:
        for doc in render(folder):
            if doc["kind"] not in ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "Pod"):
                continue
            spec = pod_spec(doc) if doc["kind"] != "Pod" else doc["spec"]
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                assert "JWT_SECRET" not in env_of(container), f"{folder}: {doc['metadata']['name']}/{container['name']}"
                mounted = {mount["name"] for mount in container.get("volumeMounts", [])}
                signing = {v["name"] for v in spec.get("volumes", []) if v.get("secret", {}).get("secretName") == "gateway-signing-key"}
                if mounted & signing:
                    holders.append((folder, doc["kind"], doc["metadata"]["name"], container["name"]))
            if "gateway-signing-key" in secrets_of(spec):
                assert doc["kind"] == "Deployment" and doc["metadata"]["name"] == "api-gateway", f"{folder}: {doc['metadata']['name']}"
            assert "database-secret" not in secrets_of(spec), f"{folder}: {doc['metadata']['name']}"
    gateways = {folder for folder, kind, name, container in holders}
    assert all(holder[1:] == ("Deployment", "api-gateway", "api-gateway") for holder in holders), holders
    assert {"base", "overlays/postgres"} <= gateways


def test_every_key_file_a_container_names_is_mounted_in_every_folder():
    # The PostgreSQL overlay once emptied every container's volumeMounts (a delete directive on
    # `name`, where the merge key is mountPath): its pods named key files that were not there.
    missing = []
    for folder in KUSTOMIZATIONS:
        for doc in render(folder):
            if doc["kind"] not in ("Deployment", "CronJob"):
                continue
            spec = pod_spec(doc)
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                for name, item in env_of(container).items():
                    if name.endswith("_FILE") and str(Path(item["value"]).parent) not in mounts_of(container):
                        missing.append(f"{folder}: {doc['metadata']['name']}/{container['name']} {name}")
    assert missing == []


def test_base_init_container_runs_initdb_only_on_an_existing_file():
    spec = pod_spec(find(render("base"), "Deployment", "api-gateway"))
    (init,) = spec["initContainers"]
    command = " ".join(init["command"] + init.get("args", []))
    assert "manage.py initdb" in command
    assert 'test -f "$DATABASE_PATH"' in command
    assert "--sample" not in command
    assert "/data" in mounts_of(init)


def test_base_probes_liveness_and_readiness_over_plain_http():
    (gateway,) = pod_spec(find(render("base"), "Deployment", "api-gateway"))["containers"]
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        # ALLOWED_HOSTS does not list the pod IP the kubelet would send.
        assert {"name": "Host", "value": "localhost"} in gateway[probe]["httpGet"]["httpHeaders"]


def test_every_pod_is_non_root_with_a_read_only_root_and_resources():
    for folder in KUSTOMIZATIONS:
        for workload in render(folder):
            if workload["kind"] not in {"Deployment", "CronJob"}:
                continue
            spec = pod_spec(workload)
            where = f"{folder}: {workload['kind']}/{workload['metadata']['name']}"
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            assert spec["securityContext"]["runAsUser"] == GATEWAY_UID, where
            for container in spec["containers"] + spec.get("initContainers", []):
                security = container["securityContext"]
                assert security["allowPrivilegeEscalation"] is False, where
                assert security["readOnlyRootFilesystem"] is True, where
                assert security["capabilities"]["drop"] == ["ALL"], where
                assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), where
                assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), where


def test_base_volume_is_writable_by_the_gateway_group_and_tmp_is_an_empty_dir():
    spec = pod_spec(find(render("base"), "Deployment", "api-gateway"))
    assert spec["securityContext"]["fsGroup"] == GATEWAY_UID
    assert spec["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    for container in spec["containers"] + spec["initContainers"]:
        assert "emptyDir" in volumes[mounts_of(container)["/tmp"]["name"]]
        cache = env_of(container).get("DJANGO_CACHE_DIR", {"value": "/tmp/ltplabs-gateway-cache"})["value"]
        assert cache.startswith("/tmp/")


def test_analytics_reads_the_volume_read_only_on_the_gateway_node():
    deployment = find(render("examples/analytics"), "Deployment", "analytics")
    spec = pod_spec(deployment)
    (volume,) = [volume for volume in spec["volumes"] if "persistentVolumeClaim" in volume]
    assert volume["persistentVolumeClaim"] == {"claimName": "sqlite-pvc", "readOnly": True}
    (container,) = spec["containers"]
    assert mounts_of(container)["/data"]["readOnly"] is True
    assert same_node_as_gateway(spec)
    script = " ".join(container["command"])
    assert "mode=ro" in script and "immutable" not in script


def test_demo_service_has_no_volume_and_reaches_the_gateway_with_an_api_key_and_the_jwks():
    docs = render("examples/demo-service")
    spec = pod_spec(find(docs, "Deployment", "demo-service"))
    assert "volumes" not in spec and not same_node_as_gateway(spec)
    (container,) = spec["containers"]
    assert "volumeMounts" not in container
    env = env_of(container)
    assert env["GATEWAY_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "demo-service-api-key", "key": "API_KEY"}
    assert env["GATEWAY_JWKS_URL"]["value"] == "http://api-gateway:3000/.well-known/jwks.json"
    assert env["GATEWAY_URL"]["value"] == "http://api-gateway:3000"
    secrets_used = {item["valueFrom"]["secretKeyRef"]["name"] for item in env.values() if "valueFrom" in item}
    assert secrets_used == {"demo-service-api-key"}  # never the gateway's signing key nor JWT_SECRET
    readme = (K8S / "README.md").read_text()
    assert "examples/demo-service" in readme and "entitlements:check" in readme


def test_postgres_overlay_rolls_several_replicas_without_the_sqlite_volume():
    docs = render("overlays/postgres")
    deployment = find(docs, "Deployment", "api-gateway")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spec = pod_spec(deployment)
    for container in spec["containers"] + spec["initContainers"]:
        env = env_of(container)
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "postgres-secret"
        assert "DATABASE_PATH" not in env
        assert "/data" not in mounts_of(container)
    assert not [volume for volume in spec["volumes"] if "persistentVolumeClaim" in volume]
    assert not [doc for doc in docs if doc["kind"] == "PersistentVolumeClaim"]
    assert find(docs, "PodDisruptionBudget", "api-gateway")["spec"]["maxUnavailable"] == 1


def test_backup_cronjob_copies_to_a_second_volume_on_the_gateway_node():
    docs = render("examples/backup")
    cronjob = find(docs, "CronJob", "ltplabs-backup")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    spec = pod_spec(cronjob)
    assert same_node_as_gateway(spec)
    (container,) = spec["containers"]
    assert "manage.py backup /backup" in " ".join(container["command"])
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    claims = {
        path: volumes[mount["name"]].get("persistentVolumeClaim", {}).get("claimName") for path, mount in mounts_of(container).items()
    }
    assert claims["/data"] == "sqlite-pvc"
    assert claims["/backup"] not in {None, "sqlite-pvc"}
    find(docs, "PersistentVolumeClaim", claims["/backup"])


def test_litestream_restores_before_initdb_and_replicates_as_a_sidecar():
    spec = pod_spec(find(render("examples/litestream"), "Deployment", "api-gateway"))
    init = spec["initContainers"]
    assert [container["name"] for container in init] == ["litestream-restore", "initdb", "litestream"]
    assert init[0]["args"][0] == "restore" and "-if-db-not-exists" in init[0]["args"]
    assert init[2]["restartPolicy"] == "Always" and init[2]["args"][0] == "replicate"
    assert all("/data" in mounts_of(container) for container in init)


def test_k8s_readme_explains_each_choice():
    readme = (K8S / "README.md").read_text()
    for topic in ("Recreate", "one replica", "same node", "-wal", "-shm", "Litestream", "fsGroup", "pg_dump"):
        assert topic.lower() in readme.lower(), topic


# --- Dockerfile and docker-compose.yml --------------------------------------------------------


def test_dockerfile_runs_gunicorn_as_a_fixed_non_root_user_with_static_files_collected():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(rf"^USER {GATEWAY_UID}:{GATEWAY_UID}$", dockerfile, re.M)
    assert f"--uid {GATEWAY_UID}" in dockerfile and f"--gid {GATEWAY_UID}" in dockerfile
    assert re.search(r'^CMD \["gunicorn", "-c", "gunicorn.conf.py", "ltplabs.wsgi"\]$', dockerfile, re.M)
    assert "manage.py collectstatic" in dockerfile
    assert "DATABASE_PATH=/data/ltplabs.db" in dockerfile
    assert "EXPOSE 3000" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"*.db", ".git", ".venv", "data"} <= set(ignored)


def test_compose_creates_the_database_then_starts_the_gateway_on_the_same_volume():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    database, gateway = compose["services"]["database"], compose["services"]["api-gateway"]
    assert "initdb" in database["command"]
    assert gateway["depends_on"] == {"database": {"condition": "service_completed_successfully"}}
    assert "3000:3000" in gateway["ports"]

    def data_volume(service):
        (volume,) = [mount.split(":")[0] for mount in service["volumes"] if mount.split(":")[1] == "/data"]
        return volume

    assert data_volume(database) == data_volume(gateway)
    assert data_volume(gateway) in compose["volumes"]
    for service in (database, gateway):
        assert service["environment"]["DATABASE_PATH"] == "/data/ltplabs.db"
        # No key in the file: a development run by default, real keys from the environment otherwise.
        environment = service["environment"]
        assert environment["DJANGO_DEBUG"] == "${DJANGO_DEBUG:-1}"
        assert all(environment[name] == f"${{{name}:-}}" for name in ("DJANGO_SECRET_KEY", "JWT_SIGNING_KEY", "JWT_SECRET"))


# --- production settings --------------------------------------------------------------------


def production_env(tmp_path, **extra) -> dict[str, str]:
    keys = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "JWT_SECRET": secrets.token_urlsafe(40)}
    env = gateway_env(tmp_path / "ltplabs.db", **{**keys, **extra})
    env.pop("DJANGO_TLS")  # production: the default that DJANGO_DEBUG=0 gives
    return env


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_fails_on_a_weak_secret_key(tmp_path):
    result = manage(production_env(tmp_path, DJANGO_SECRET_KEY="short"), "check", "--deploy", "--fail-level", "WARNING", check=False)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is 5 characters long" in result.stderr


def test_keys_can_come_from_mounted_files(tmp_path):
    key_file, jwt_file = tmp_path / "DJANGO_SECRET_KEY", tmp_path / "JWT_SECRET"
    key_file.write_text(secrets.token_urlsafe(50) + "\n")
    jwt_file.write_text(secrets.token_urlsafe(40) + "\n")
    env = production_env(tmp_path, DJANGO_SECRET_KEY_FILE=key_file, JWT_SECRET_FILE=jwt_file)
    del env["DJANGO_SECRET_KEY"], env["JWT_SECRET"]
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- a production run from a checkout, as the README's "Deploying from a checkout" says -------


def wait_until_serving(process: subprocess.Popen, url: str, log: Path) -> None:
    for _ in range(600):
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"{url}/health/live", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"gunicorn did not answer: {log.read_text()[-2000:]}")


def get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def linked(page: str, pattern: str) -> str:
    """The href of the one stylesheet of `page` matching `pattern`."""
    (href,) = re.findall(rf'<link[^>]*href="([^"]*{pattern}[^"]*)"', page)
    return href


@pytest.mark.skipif(IS_POSTGRES, reason="a checkout on its SQLite file")
def test_production_run_from_a_checkout_serves_the_admin_and_docs_with_their_css_or_refuses_to_start(tmp_path):
    static_root = tmp_path / "staticfiles"
    env = {**production_env(tmp_path, PORT=free_port(), DJANGO_STATIC_ROOT=static_root, TMPDIR=tmp_path), "DJANGO_TLS": "0"}
    env.pop("DJANGO_CACHE_DIR", None)  # the default: a folder of this installation's own, under TMPDIR
    manage(env, "initdb")
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "ltplabs.wsgi"]

    # Before collectstatic: no start, one JSON line that names the command, nothing on stderr.
    refused = subprocess.run(gunicorn, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert refused.stderr == ""
    entries = [json.loads(line) for line in refused.stdout.splitlines()]
    (error,) = [entry for entry in entries if entry["level"] == "ERROR"]
    assert "manage.py collectstatic" in error["message"] and str(static_root) in error["message"]
    assert "Traceback" not in refused.stdout and "Listening at" not in refused.stdout

    manage(env, "collectstatic", "--noinput", "-v", "0")
    admin_env = {**env, "DJANGO_SUPERUSER_PASSWORD": "first-staff-pass-123"}
    manage(admin_env, "createsuperuser", "--noinput", "--username", "first-staff", "--email", "ops@example.com")
    log_path, err_path = tmp_path / "gunicorn.log", tmp_path / "gunicorn.err"
    port = free_port()  # chosen just before gunicorn binds it, as Gateway does: another process may take a port meanwhile
    env["PORT"], url = str(port), f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log, open(err_path, "w") as err:
        process = subprocess.Popen(gunicorn, cwd=ROOT, env=env, stdout=log, stderr=err)
    try:
        wait_until_serving(process, url, log_path)
        assert f"Listening at: http://0.0.0.0:{port}" in log_path.read_text()  # this gunicorn answers, not another one
        status, _, body = get(f"{url}/health/ready")
        assert status == 200 and json.loads(body)["static_files"] == "ok", body
        status, _, login = get(f"{url}/admin/login/")
        assert status == 200 and "LTP Labs" in login
        css = linked(login, r"admin/css/base\.[0-9a-f]+\.css")
        status, content_type, _ = get(f"{url}{css}")
        assert (status, content_type) == (200, 'text/css; charset="utf-8"')
        status, _, landing = get(f"{url}/")
        assert status == 200 and linked(landing, r"admin/css/base\.[0-9a-f]+\.css") == css
        status, _, docs = get(f"{url}/api/docs/")
        assert status == 200
        swagger_css = linked(docs, r"swagger-ui-dist/swagger-ui\.[0-9a-f]+\.css")
        status, content_type, _ = get(f"{url}{swagger_css}")
        assert (status, content_type) == (200, 'text/css; charset="utf-8"')

        # The files gone from under it: the admin could no longer be served, and readiness says so.
        (static_root / css.removeprefix("/static/")).unlink()
        status, _, body = get(f"{url}/health/ready")
        assert status == 503 and json.loads(body)["static_files"] == "missing", body
        assert "collectstatic" in " ".join(json.loads(body)["problems"])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0, log_path.read_text()[-3000:] + err_path.read_text()
    assert err_path.read_text() == ""  # whitenoise's "No directory at" warning among others
    assert all(json.loads(line) for line in log_path.read_text().splitlines())
    assert [path.name for path in tmp_path.glob("ltplabs-gateway-cache-*")], "the default cache folder"


def test_gunicorn_without_a_key_refuses_to_start_in_one_json_line_naming_it(tmp_path):
    env = {**production_env(tmp_path, PORT=free_port()), "DJANGO_TLS": "0"}
    del env["DJANGO_SECRET_KEY"]
    refused = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "ltplabs.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert refused.returncode != 0 and refused.stderr == ""
    (error,) = [entry for entry in map(json.loads, refused.stdout.splitlines()) if entry["level"] == "ERROR"]
    assert error["message"].startswith("DJANGO_SECRET_KEY is not set") and "Traceback" not in refused.stdout


# --- gunicorn.conf.py on a real gunicorn: JSON logs, graceful shutdown ------------------------


@pytest.fixture
def served(tmp_path):
    """gunicorn -c gunicorn.conf.py, as the image runs it, on a new database file."""
    if IS_POSTGRES:
        pytest.skip("runs gunicorn on a SQLite file")
    db_path = make_database_file(tmp_path, clients=5)
    port = free_port()
    env = gateway_env(
        db_path, PORT=port, WEB_CONCURRENCY=1, GUNICORN_THREADS=2, GUNICORN_GRACEFUL_TIMEOUT=20, DJANGO_CACHE_DIR=tmp_path / "cache"
    )
    env["DJANGO_TLS"] = "0"
    manage({**env, "DJANGO_DEBUG": "1"}, "create_dev_staff", "--username", "ops", "--password", "ops-pass-12345")
    collect_static(env)
    log_path = tmp_path / "gunicorn.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "ltplabs.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(f"{url}/health/live", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"gunicorn did not answer in 20 s: {log_path.read_text()[-2000:]}"
                time.sleep(0.1)
        yield {"url": url, "port": port, "process": process, "log": log_path, "db": db_path}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def staff_token(url: str) -> str:
    request = urllib.request.Request(
        f"{url}/api/auth/token",
        data=json.dumps({"username": "ops", "password": "ops-pass-12345"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access"]


def stop(served) -> int:
    served["process"].send_signal(signal.SIGTERM)
    return served["process"].wait(timeout=60)


def test_logs_are_one_json_object_a_line_with_the_request_and_no_token(served):
    token = staff_token(served["url"])
    request = urllib.request.Request(
        f"{served['url']}/api/clients?limit=1&token={token}", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "ops-test-1"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert stop(served) == 0
    text = served["log"].read_text()
    entries = [json.loads(line) for line in text.splitlines()]  # every line parses
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    (access,) = [entry for entry in entries if entry.get("request_id") == "ops-test-1"]
    assert access["method"] == "GET" and access["path"] == "/api/clients" and access["status"] == 200
    assert access["user"] == "staff:ops"
    assert isinstance(access["duration_ms"], int | float)
    assert token not in text
    assert "ops-pass-12345" not in text


def test_access_log_skips_healthy_probes_and_can_be_turned_off(tmp_path):
    db_path = make_database_file(tmp_path)
    env = gateway_env(db_path, DJANGO_ACCESS_LOG="0")
    script = (
        "import django; django.setup(); from django.test import Client; "
        "print(Client(headers={'X-Request-ID': 'quiet-1'}).get('/health/live', HTTP_HOST='localhost').status_code)"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.strip().endswith("200"), result.stderr
    assert "quiet-1" not in result.stdout + result.stderr
    result = subprocess.run(
        [sys.executable, "-c", script.replace("/health/live", "/no-such-page")], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert "quiet-1" not in result.stdout + result.stderr
    env["DJANGO_ACCESS_LOG"] = "1"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.strip().endswith("200") and not access_lines(result.stdout)  # a probe that answered 200
    failing = script.replace("/health/live", "/no-such-page")
    result = subprocess.run([sys.executable, "-c", failing], cwd=ROOT, env=env, capture_output=True, text=True)
    (line,) = access_lines(result.stdout)
    assert line["request_id"] == "quiet-1" and line["status"] == 404 and line["path"] == "/no-such-page"


def access_lines(stdout: str) -> list[dict]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "ltplabs.access"]


def listen_backlog(port: int) -> int:
    """Connections waiting in the listening socket's accept queue (the LISTEN row's rx_queue)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
                return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"nothing listens on {port}")


def test_sigterm_finishes_the_request_in_flight_and_closes_the_database(served):
    token = staff_token(served["url"])
    body = json.dumps({"name": "In flight", "email": "in-flight@ops.test", "password": "in-flight-123"}).encode()
    # Another process holds SQLite's write lock: the gateway's write waits for it (busy_timeout).
    blocker = sqlite3.connect(served["db"], isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    client = socket.create_connection(("127.0.0.1", served["port"]), timeout=30)
    try:
        client.sendall(
            b"POST /api/clients HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        for _ in range(200):  # until a worker has accepted it
            if listen_backlog(served["port"]) == 0:
                break
            time.sleep(0.01)
        served["process"].send_signal(signal.SIGTERM)
        time.sleep(0.5)  # let the shutdown begin while the request still waits for the lock
        blocker.execute("ROLLBACK")
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    finally:
        client.close()
        blocker.close()
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
    assert served["process"].wait(timeout=60) == 0
    log = served["log"].read_text()
    assert "Handling signal: term" in log
    closed = [int(match) for match in re.findall(r"closed (\d+) database connection", log)]
    assert closed and sum(closed) >= 1
    with sqlite3.connect(served["db"]) as db:
        assert db.execute("SELECT count(*) FROM clients WHERE email = 'in-flight@ops.test'").fetchone()[0] == 1


def open_files(pid: int, path: Path) -> int:
    """How many file descriptors of process pid have `path` open: one per SQLite connection."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd) == str(path)
        except OSError:
            pass  # closed meanwhile
    return count


def test_worker_exit_after_the_api_schema_closes_every_connection_it_opened_and_raises_nothing(served):
    from concurrent.futures import ThreadPoolExecutor

    token = staff_token(served["url"])
    with urllib.request.urlopen(f"{served['url']}/api/schema/", timeout=30) as response:
        assert response.status == 200
    request = urllib.request.Request(f"{served['url']}/api/clients?limit=1", headers={"Authorization": f"Bearer {token}"})
    with ThreadPoolExecutor(4) as pool:  # both of the worker's threads, most likely
        assert {answer.status for answer in pool.map(lambda _: urllib.request.urlopen(request, timeout=30), range(8))} == {200}
    (worker,) = [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", served["log"].read_text())]
    opened = open_files(worker, served["db"])
    assert opened >= 1
    assert stop(served) == 0
    log = served["log"].read_text()
    entries = [json.loads(line) for line in log.splitlines()]
    assert not [entry for entry in entries if entry["level"] in ("WARNING", "ERROR") or "exc" in entry], log
    assert "Traceback" not in log and "Exception during worker exit" not in log
    (closed,) = [int(count) for count in re.findall(rf"worker {worker} closed (\d+) database connection", log)]
    assert closed == opened


def test_gunicorn_settings_come_from_the_environment():
    script = (
        "import runpy, json; config = runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps([config[name] for name in ('bind', 'workers', 'threads', 'timeout')]))"
    )
    env = {**os.environ, "PORT": "4123", "WEB_CONCURRENCY": "3", "GUNICORN_THREADS": "8", "GUNICORN_TIMEOUT": "45"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == ["0.0.0.0:4123", 3, 8, 45]


def test_json_log_lines_survive_text_orjson_refuses():
    # orjson writes the lines; a lone surrogate (a broken path, a library's message) or an
    # integer past 64 bits falls back to the json module: still one JSON object on one line.
    import logging

    from ltplabs.logging import JSONFormatter

    formatter = JSONFormatter()
    for message, extra in (("plain é", {"status": 201}), ("broken \udc80 path", {"path": "/x\ud800"}), ("big", {"status": 2**70})):
        record = logging.LogRecord("ltplabs.access", logging.INFO, __file__, 1, message, (), None)
        record.__dict__.update(extra)
        line = formatter.format(record)
        assert "\n" not in line
        entry = json.loads(line)
        assert entry["message"] == message and entry["logger"] == "ltplabs.access"
        assert {key: entry[key] for key in extra} == extra
