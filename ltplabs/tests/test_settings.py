"""Settings come from the environment only; production refuses to start without real keys."""

import json
import subprocess
import sys

import pytest

from tests.fixtures import ROOT

PRINT_DB = "import django; django.setup(); from django.conf import settings; import json; print(json.dumps(settings.DATABASES['default']))"


def run(code: str, **env) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "ltplabs.settings", "DJANGO_SECRET_KEY": "k" * 50, "JWT_SECRET": "j" * 40}
    base.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={k: v for k, v in base.items() if v is not None}, capture_output=True, text=True
    )


def database(**env) -> dict:
    result = run(PRINT_DB, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "url,path",
    [("file:/data/ltplabs.db", "/data/ltplabs.db"), ("sqlite:////data/ltplabs.db", "/data/ltplabs.db"),
     ("file:/srv/with%20space/ltplabs.db", "/srv/with space/ltplabs.db")],
)  # fmt: skip
def test_database_url_in_the_manifests_forms_names_the_sqlite_file(url, path):
    db = database(DATABASE_URL=url)
    assert db["ENGINE"] == "ltplabs.sqlite" and db["NAME"] == path
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "PRAGMA busy_timeout = 5000" in db["OPTIONS"]["init_command"]


def test_sqlite_soft_heap_limit_comes_from_the_environment():
    assert "PRAGMA soft_heap_limit = 12000000" in database()["OPTIONS"]["init_command"]
    assert "PRAGMA soft_heap_limit = 64000000" in database(SQLITE_SOFT_HEAP_LIMIT_MB="64")["OPTIONS"]["init_command"]
    assert "PRAGMA soft_heap_limit = 0" in database(SQLITE_SOFT_HEAP_LIMIT_MB="0")["OPTIONS"]["init_command"]
    refused = run(PRINT_DB, SQLITE_SOFT_HEAP_LIMIT_MB="lots")
    assert refused.returncode != 0 and "SQLITE_SOFT_HEAP_LIMIT_MB must be a whole number" in refused.stderr


def test_sqlite_wal_autocheckpoint_comes_from_the_environment():
    assert "PRAGMA wal_autocheckpoint = 4000" in database()["OPTIONS"]["init_command"]
    assert "PRAGMA wal_autocheckpoint = 1000" in database(SQLITE_WAL_AUTOCHECKPOINT="1000")["OPTIONS"]["init_command"]


def test_relative_sqlite_url_and_database_path():
    assert database(DATABASE_URL="sqlite:///data/x.db")["NAME"] == str(ROOT / "data" / "x.db")
    assert database(DATABASE_PATH="/var/lib/ltplabs.db")["NAME"] == "/var/lib/ltplabs.db"
    assert database()["NAME"] == str(ROOT / "data" / "ltplabs.db")


def test_postgres_url_selects_the_postgresql_backend():
    db = database(DATABASE_URL="postgres://gw:s%40cret@db.internal:5433/ltplabs?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == ("ltplabs", "gw", "s@cret", "db.internal", "5433")
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_unknown_database_url_scheme_is_refused():
    result = run(PRINT_DB, DATABASE_URL="mysql://x/y")
    assert result.returncode != 0 and "DATABASE_URL must start with" in result.stderr


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "JWT_SECRET"])
def test_production_start_without_a_key_is_refused_naming_it(missing):
    # The WSGI application is what serves; commands that sign no token run without a JWT key.
    result = run("import ltplabs.wsgi", **{missing: None})
    assert result.returncode != 0
    assert f"{missing} {'or JWT_SIGNING_KEY ' if missing == 'JWT_SECRET' else ''}is not set" in result.stderr


def test_commands_that_sign_no_token_run_without_a_jwt_key_but_never_sign_one():
    code = (
        "import django; django.setup(); from rest_framework_simplejwt.tokens import AccessToken\n"
        "try:\n    AccessToken()['x'] = 1; print(str(AccessToken()))\nexcept Exception as exc: print('refused:', exc)"
    )
    result = run(code, JWT_SECRET=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("refused: JWT_SECRET or JWT_SIGNING_KEY is not set")


def test_development_mode_has_obviously_development_only_keys():
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY, settings.JWT_SECRET)"
    result = run(code, DJANGO_SECRET_KEY=None, JWT_SECRET=None, DJANGO_DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("dev-only-insecure") == 2


def test_secrets_can_come_from_mounted_files(tmp_path):
    (tmp_path / "jwt").write_text("from-a-file-secret-of-at-least-32-bytes\n")
    code = "import django; django.setup(); from django.conf import settings; print(settings.JWT_SECRET)"
    result = run(code, JWT_SECRET=None, JWT_SECRET_FILE=str(tmp_path / "jwt"))
    assert result.stdout.strip().splitlines()[-1] == "from-a-file-secret-of-at-least-32-bytes"
    result = run(code, JWT_SECRET=None, JWT_SECRET_FILE=str(tmp_path / "absent"))
    assert result.returncode != 0 and "JWT_SECRET_FILE names" in result.stderr


PRINT_CACHE = "from django.conf import settings; print(settings.CACHES['default']['LOCATION'])"


def cache_dir(checkout, **env) -> str:
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "ltplabs.settings", "DJANGO_SECRET_KEY": "k" * 50, "JWT_SECRET": "j" * 40}
    result = subprocess.run(
        [sys.executable, "-c", PRINT_CACHE], cwd=checkout, env={**base, **env}, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_default_cache_folder_is_one_per_checkout_and_database_and_never_shared(tmp_path):
    import shutil

    checkouts = [ROOT]
    for name in ("checkout-a", "checkout-b"):
        shutil.copytree(ROOT / "ltplabs", tmp_path / name / "ltplabs", ignore=shutil.ignore_patterns("__pycache__"))
        checkouts.append(tmp_path / name)
    temp = tmp_path / "tmp"
    temp.mkdir()
    folders = {str(checkout): cache_dir(checkout, TMPDIR=str(temp)) for checkout in checkouts}
    assert len(set(folders.values())) == 3, folders  # each checkout its own, on its own default file
    assert all(folder.startswith(f"{temp}/ltplabs-gateway-cache-") for folder in folders.values())
    assert cache_dir(ROOT, TMPDIR=str(temp)) == folders[str(ROOT)]  # the same installation: the same folder, in every process
    same_file = {cache_dir(checkout, TMPDIR=str(temp), DATABASE_PATH="/srv/ltplabs.db") for checkout in checkouts}
    assert len(same_file) == 3  # two checkouts on one file still count apart
    assert cache_dir(ROOT, TMPDIR=str(temp), DATABASE_PATH="/srv/other.db") not in same_file | set(folders.values())
    postgres = [
        cache_dir(ROOT, TMPDIR=str(temp), DATABASE_URL=f"postgres://gateway:{password}@db.example:5432/{name}")
        for name, password in (("ltplabs", "one"), ("ltplabs", "two"), ("staging", "one"))
    ]
    assert postgres[0] == postgres[1] != postgres[2] and "one" not in postgres[0]
    assert cache_dir(ROOT, DJANGO_CACHE_DIR="/var/cache/gateway") == "/var/cache/gateway"


ENV_READERS = {"env", "env_bool", "env_int", "secret", "os.environ.get", "os.getenv", "os.environ.setdefault"}


def variables_read(path) -> dict[str, object]:
    """Every environment variable a module reads -> its default when that is a literal (else ...)."""
    import ast

    found = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ" and isinstance(node.slice, ast.Constant):
            found[node.slice.value] = ...
        if not (isinstance(node, ast.Call) and ast.unparse(node.func) in ENV_READERS and node.args):
            continue
        name = node.args[0]
        if not isinstance(name, ast.Constant):
            continue  # the helpers' own os.environ.get(name)
        default = node.args[1] if len(node.args) > 1 else None
        found[name.value] = default.value if isinstance(default, ast.Constant) else ...
        if ast.unparse(node.func) == "secret":
            found[name.value] = ...  # its literal is the development-only key
            found[f"{name.value}_FILE"] = ...
    return found


def readme_configuration_table() -> dict[str, str]:
    """The README's configuration table: variable -> its default cell."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            assert len(cells) == 3, line
            assert cells[0].count("`") == 2, f"one variable a row: {line}"
            rows[cells[0].strip("`")] = cells[2]
    return rows


def test_readme_configuration_table_lists_every_variable_read_with_its_default():
    read = {
        name: default
        for path in ("ltplabs/settings.py", "ltplabs/env.py", "gunicorn.conf.py")
        for name, default in variables_read(ROOT / path).items()
    }
    assert {"DJANGO_CACHE_DIR", "DJANGO_NUM_PROXIES", "THROTTLE_STAFF_LOGIN", "PORT", "JWT_SECRET_FILE"} <= read.keys()
    table = readme_configuration_table()
    assert sorted(read.keys() - table.keys()) == [], "read but not in the README's table"
    assert sorted(table.keys() - read.keys()) == [], "in the README's table but read nowhere"
    for name, default in read.items():
        assert table[name], name
        if default is ... or default is None or default == "":
            continue
        literal = {True: "1", False: "0"}.get(default, default) if isinstance(default, bool) else default
        assert f"`{literal}`" in table[name], f"{name}: the README says {table[name]!r}, the code's default is {literal!r}"
