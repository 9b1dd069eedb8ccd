"""Failure alerts reach the analysts once per failure, never once per retry.

The real `scrutineer_health` DAG runs under Airflow's `dag.test()` (the Task SDK's own task runner,
callbacks included) with its retry delay set to zero, against an aiosmtpd sink:
- its database is unreachable on every try: 3 tries, exactly one alert;
- the SMTP server refuses its first report with a 451 and accepts the second try's: the report
  arrives once and no alert is sent.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from demo.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, os, sys
from datetime import timedelta
from airflow.models.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
dag = bag.get_dag("scrutineer_health")
for t in dag.tasks:
    t.retry_delay = timedelta(0)  # the real DAG waits 10 minutes between tries
out = {}
for case, db, smtp in (("always_fails", sys.argv[2], None), ("fails_once", sys.argv[3], None),
                       ("bad_config", sys.argv[3], sys.argv[4])):
    os.environ["SCRUTINEER_DB"] = db
    if smtp:
        os.environ["SCRUTINEER_SMTP_URL"] = smtp
    run = dag.test()
    tis = run.get_task_instances()
    out[case] = {"state": str(run.state), "tries": [ti.try_number for ti in tis],
                 "max_tries": [ti.max_tries for ti in tis]}
print("RESULT " + json.dumps(out))
"""


class RefuseFirstReport(SmtpSink):
    """Answers the first health report with a transient 451, then accepts (a flaky relay)."""

    refused = 0

    def accept(self, envelope: Any) -> str:
        if not self.refused and b"source health" in (envelope.original_content or envelope.content):
            self.refused += 1
            return "451 4.3.0 try again later"
        return super().accept(envelope)


def _alerts(messages: list[Message]) -> list[Message]:
    return [m for m in messages if "failed" in str(m["Subject"])]


def _reports(messages: list[Message]) -> list[Message]:
    return [m for m in messages if "source health" in str(m["Subject"])]


@pytest.mark.timeout(110)
def test_one_alert_per_failure_and_none_for_a_retry_that_succeeds(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    env = dict(os.environ)
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"), AIRFLOW__CORE__UNIT_TEST_MODE="False",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "dags")]),
               SCRUTINEER_ANALYST_EMAILS="ana@example.org, bo@example.org")
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=120)
    good_db = f"sqlite:///{tmp_path / 'scrutineer.sqlite'}"
    (tmp_path / "a-file").write_text("not a directory")
    broken_db = f"sqlite:///{tmp_path / 'a-file' / 'scrutineer.sqlite'}"  # can never be opened
    with RefuseFirstReport() as sink:
        env["SCRUTINEER_SMTP_URL"] = sink.url
        # Case 3's SMTP URL demands STARTTLS, which the sink does not offer: a configuration error.
        proc = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "dags"), broken_db, good_db,
                               sink.url + "?starttls=1"], env=env,
                              capture_output=True, text=True, timeout=100)
        messages = sink.parsed()
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])

    # Case 1: every try failed; Airflow tried 3 times (retries=2); one alert, to both analysts.
    assert result["always_fails"] == {"state": "failed", "tries": [3], "max_tries": [2]}
    # Case 2: the first try failed (451), the retry succeeded.
    assert result["fails_once"] == {"state": "success", "tries": [2], "max_tries": [2]}
    # Case 3: a configuration error fails at once (AirflowFailException), retries left unused.
    assert result["bad_config"] == {"state": "failed", "tries": [1], "max_tries": [2]}

    alerts = _alerts(messages)
    assert len(alerts) == 1, [m["Subject"] for m in messages]
    alert = alerts[0]
    assert alert["Subject"] == "Scrutineer: scrutineer_health.health_report failed"
    assert sorted(a.strip() for a in str(alert["To"]).split(",")) == ["ana@example.org", "bo@example.org"]
    body = alert.get_content()
    assert "failed after 3 tries" in body and "Error: " in body
    assert sink.by_recipient == {"ana@example.org": 2, "bo@example.org": 2}  # the alert + one report each
    assert sink.refused == 1 and len(_reports(messages)) == 1  # the 451 was the first try's failure


def test_fail_fast_only_for_configuration_errors() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pipelines.alerts import fail_fast
    from pipelines.errors import ConfigError, UserError

    with pytest.raises(AirflowFailException, match="not retried"), fail_fast():
        raise ConfigError("SMTP server does not offer STARTTLS")
    with pytest.raises(UserError), fail_fast():  # an outage: left to Airflow's retries
        raise UserError("cannot reach SMTP server")
