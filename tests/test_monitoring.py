"""What an operator scrapes and alerts on: the pod's scrape annotations and token, the
ServiceMonitor and PrometheusRule examples, the alert rules through promtool (`check rules` and
the unit tests of k8s/examples/monitoring/rules.test.yaml), and the daily prune CronJob."""

import shutil
import subprocess

import pytest
import yaml

from tests.test_deployment import K8S, env_of, find, mounts_of, pod_spec, render, same_node_as_gateway, validate

MONITORING = K8S / "examples" / "monitoring"


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is needed (.ci/run installs it from Debian's prometheus package)"
    return path


def test_base_pod_is_scraped_with_its_token_from_a_secret():
    deployment = find(render("base"), "Deployment", "api-gateway")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "3000", "prometheus.io/path": "/metrics"}
    (container,) = pod_spec(deployment)["containers"]
    token = env_of(container)["METRICS_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token["name"] == "api-gateway-metrics" and token["key"] == "METRICS_TOKEN"
    assert "PROMETHEUS_MULTIPROC_DIR" not in env_of(container)  # the default: a folder in the pod's own /tmp emptyDir
    assert "emptyDir" in {volume["name"]: volume for volume in pod_spec(deployment)["volumes"]}[mounts_of(container)["/tmp"]["name"]]


def test_service_monitor_sends_the_same_secret_as_bearer_token(tmp_path):
    docs = render("examples/monitoring")
    assert validate(docs, tmp_path).returncode == 0
    monitor = find(docs, "ServiceMonitor", "api-gateway")
    service = find(render("base"), "Service", "api-gateway")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"] == {"type": "Bearer", "credentials": {"name": "api-gateway-metrics", "key": "METRICS_TOKEN"}}


@pytest.fixture
def rules_file(tmp_path):
    """spec.groups of the PrometheusRule, as the rule file Prometheus loads, beside the unit tests."""
    rule = find(render("examples/monitoring"), "PrometheusRule", "api-gateway")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    shutil.copy(MONITORING / "rules.test.yaml", tmp_path / "rules.test.yaml")
    return path


def test_alert_rules_pass_promtool_check_rules(rules_file):
    result = subprocess.run([promtool(), "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_alert_rules_fire_on_what_they_name_in_promtools_unit_tests(rules_file):
    result = subprocess.run([promtool(), "test", "rules", str(rules_file.with_name("rules.test.yaml"))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_cover_503s_by_cause_sign_in_failures_wal_size_and_p99():
    rules = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())["spec"]["groups"][0]["rules"]
    expressions = " ".join(rule["expr"] for rule in rules)
    for metric in (
        "ltplabs_http_503_answers_total",
        "ltplabs_sign_in_failures_total",
        "ltplabs_sqlite_wal_bytes",
        "ltplabs_http_request_duration_seconds_bucket",
    ):
        assert metric in expressions, metric
    assert "by (cause)" in expressions and "histogram_quantile(0.99" in expressions
    tested = (MONITORING / "rules.test.yaml").read_text()
    for rule in rules:
        assert f"alertname: {rule['alert']}" in tested, rule["alert"]


def test_every_metric_the_rules_use_is_one_the_gateway_defines():
    import re

    from prometheus_client.metrics import MetricWrapperBase

    from ltplabs import metrics

    defined = {value._name for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)}
    defined |= {"ltplabs_sqlite_wal_bytes"}
    text = (MONITORING / "prometheusrule.yaml").read_text()
    for used in set(re.findall(r"ltplabs_[a-z0-9_]+", text)):
        base = re.sub(r"_(total|bucket|count|sum)$", "", used)
        assert base in defined, used


def test_prune_runs_daily_on_the_gateway_node_and_on_postgres_without_the_volume():
    cronjob = find(render("base"), "CronJob", "ltplabs-prune")
    minute, hour, day, month, weekday = cronjob["spec"]["schedule"].split()
    assert (day, month, weekday) == ("*", "*", "*") and minute.isdigit() and hour.isdigit()
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    spec = pod_spec(cronjob)
    assert same_node_as_gateway(spec)
    (container,) = spec["containers"]
    assert container["command"] == ["python", "manage.py", "prune"]
    assert env_of(container)["DATABASE_PATH"]["value"] == "/data/ltplabs.db"

    on_postgres = pod_spec(find(render("overlays/postgres"), "CronJob", "ltplabs-prune"))
    (container,) = on_postgres["containers"]
    assert env_of(container)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "postgres-secret"
    assert "DATABASE_PATH" not in env_of(container) and "/data" not in mounts_of(container)
    assert not [volume for volume in on_postgres["volumes"] if "persistentVolumeClaim" in volume]
    assert "affinity" not in on_postgres
