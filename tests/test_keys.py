"""Keys refused at start-up, attacked the way the review did: the gateway is started (manage.py
check --deploy, gunicorn) with DJANGO_DEBUG=0 and every short key and every example value this
repository prints, and each refusal is counted. A key anyone can read is a key anyone can mint
staff tokens with."""

import ast
import json
import re
import secrets
import subprocess
import sys

import pytest

from tests.fixtures import ROOT, free_port, gateway_env, manage
from tests.reliability import record

KEYS = ("DJANGO_SECRET_KEY", "JWT_SECRET")
# key: value, KEY=value, KEY: ${KEY:-value}, in YAML, shell, Markdown and Dockerfiles.
ASSIGNMENT = re.compile(r"\b(DJANGO_SECRET_KEY|JWT_SECRET|METRICS_TOKEN)\b\"?\s*[:=]\s*[\"']?(?:\$\{\w+:-)?([A-Za-z0-9_.+/=-]{4,})")


def printed_values() -> set[str]:
    """Every literal key value in the compose file, the manifests, the README and the docs, and the
    development defaults of ltplabs/settings.py: public, whoever reads this repository."""
    files = [ROOT / "docker-compose.yml", ROOT / "Dockerfile", ROOT / "README.md", *ROOT.glob("k8s/**/*.yaml"), *ROOT.glob("k8s/**/*.md")]
    files += [path for path in ROOT.glob("docs/*.md") if path.name != "reliability.md"]
    found = {value for path in files for _, value in ASSIGNMENT.findall(path.read_text())}
    tree = ast.parse((ROOT / "ltplabs/settings.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "secret" and ast.unparse(node.args[0]).strip("'\"") in KEYS:
            found.add(node.args[1].value)
    return found


def production_env(tmp_path, **keys) -> dict[str, str]:
    env = gateway_env(tmp_path / "absent.db", DJANGO_SECRET_KEY=secrets.token_urlsafe(50), JWT_SECRET=secrets.token_urlsafe(40))
    env.update(keys)
    env.pop("DJANGO_TLS")
    return env


def refused(env) -> subprocess.CompletedProcess:
    return manage(env, "check", "--deploy", "--fail-level", "WARNING", check=False)


def test_the_repository_prints_example_keys_that_this_test_knows():
    values = printed_values()
    assert "dev-only-insecure-jwt-secret-do-not-deploy" in values and "EXAMPLE-NOT-A-REAL-SECRET-replace-me" in values


@pytest.mark.parametrize("name", KEYS)
def test_every_example_value_printed_in_the_repository_is_refused_outside_development(tmp_path, name):
    values = sorted(printed_values())
    results = {value: refused(production_env(tmp_path, **{name: value})) for value in values}
    let_through = [value for value, result in results.items() if result.returncode == 0 or name not in result.stderr]
    record(f"{name} set to an example value printed in this repository, DJANGO_DEBUG=0 (manage.py check --deploy)", kind="attack",
           tries=len(values), answered=f"refused {len(values) - len(let_through)} of {len(values)}", rows_lost=None,
           integrity=f"started {len(let_through)}")  # fmt: skip
    assert let_through == []


@pytest.mark.parametrize(
    "name,short,enough",
    [("JWT_SECRET", "é" * 15 + "x", "é" * 16), ("DJANGO_SECRET_KEY", "k" * 49, secrets.token_urlsafe(64)[:50])],
    ids=["JWT_SECRET", "DJANGO_SECRET_KEY"],  # stable test names: a random value in the id names another test on every run
)  # JWT_SECRET counts bytes: 16 é are 32 bytes (16 characters), 15 é and an x are 31
def test_short_keys_are_refused_naming_the_variable_and_long_enough_ones_start(tmp_path, name, short, enough):
    weak = ["q", "qz7k", short]  # the review's JWT_SECRET was qz7k, recovered from a token in 1.1 s
    results = [refused(production_env(tmp_path, **{name: value})) for value in weak]
    record(f"{name} shorter than its minimum (1, 4 and the minimum less one), DJANGO_DEBUG=0 (manage.py check --deploy)",
           kind="attack", tries=len(weak), answered=f"refused {sum(r.returncode != 0 for r in results)} of {len(weak)}",
           rows_lost=None, integrity="n/a")  # fmt: skip
    for result in results:
        assert result.returncode != 0 and f"{name} is " in result.stderr and "long: outside development it must be" in result.stderr
    started = refused(production_env(tmp_path, **{name: enough}))
    assert started.returncode == 0, started.stderr


def test_keys_from_files_are_held_to_the_same_rule(tmp_path):
    (tmp_path / "jwt").write_text("EXAMPLE-NOT-A-REAL-SECRET-replace-me\n")
    env = production_env(tmp_path, JWT_SECRET_FILE=str(tmp_path / "jwt"))
    del env["JWT_SECRET"]
    result = refused(env)
    assert result.returncode != 0 and "JWT_SECRET is an example value" in result.stderr


def test_development_runs_keep_their_development_keys(tmp_path):
    env = production_env(tmp_path, DJANGO_DEBUG="1")
    del env["JWT_SECRET"], env["DJANGO_SECRET_KEY"]
    code = "import django; django.setup(); from django.conf import settings; print(settings.JWT_SECRET)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "dev-only-insecure-jwt-secret-do-not-deploy", result.stderr


def test_gunicorn_refuses_an_example_or_short_key_in_one_json_line_naming_it(tmp_path):
    attempts = {"JWT_SECRET": "qz7k", "DJANGO_SECRET_KEY": "compose-local-only-NOT-A-REAL-KEY-replace-me-0000000000000", "none": ""}
    errors = []
    for name, value in attempts.items():
        env = {**production_env(tmp_path, **{name: value}), "DJANGO_TLS": "0", "PORT": str(free_port())}
        if name == "none":  # no token key at all: commands may run so, a server never
            del env["JWT_SECRET"]
        result = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "ltplabs.wsgi"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode != 0 and result.stderr == "", result.stderr
        (error,) = [entry for entry in map(json.loads, result.stdout.splitlines()) if entry["level"] == "ERROR"]
        errors.append(error["message"])
    record("gunicorn started with JWT_SECRET=qz7k, with the old compose file's DJANGO_SECRET_KEY, with no token key (DJANGO_DEBUG=0)",
           kind="attack", tries=3, answered=f"refused {len(errors)} of 3", rows_lost=None, integrity="n/a")  # fmt: skip
    assert errors[0].startswith("JWT_SECRET is 4 bytes long") and errors[1].startswith("DJANGO_SECRET_KEY is an example value")
    assert errors[2].startswith("JWT_SECRET or JWT_SIGNING_KEY is not set")
