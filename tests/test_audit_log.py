"""The audit log itself: durable lines, cut and redacted arguments, rotation, filters, `--since` parsing."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from oboto.core.audit import AuditEntry, AuditLog, audit_arguments, parse_since
from oboto.core.models import utc_now


def test_secret_named_fields_are_redacted_and_long_values_cut() -> None:
    shown = audit_arguments({"command": "x" * 1000, "api_key": "sk-123", "headers": {"Authorization": "Bearer t"},
                             "items": ["a", "b"]})
    assert shown["api_key"] == "[redacted]"
    assert shown["headers"]["Authorization"] == "[redacted]"
    assert len(shown["command"]) < 400 and shown["command"].endswith("(1000 characters)")
    assert shown["items"] == ["a", "b"]


def test_known_secret_values_are_redacted_wherever_they_appear() -> None:
    shown = audit_arguments({"command": "curl -H 'x: sk-live-abcdef' host"},
                            redact=lambda text: text.replace("sk-live-abcdef", "[redacted]"))
    assert "sk-live-abcdef" not in shown["command"] and "[redacted]" in shown["command"]


def test_each_entry_is_one_json_line_with_its_decision(workspace) -> None:
    log = AuditLog(workspace.audit)
    log.write(AuditEntry(tool="run_command", tier="exec", decision="ask→denied", reason="denied by the person: no",
                         arguments={"command": "rm -rf x"}, outcome="refused", conversation="chat"))
    lines = workspace.audit.read_bytes().splitlines()
    assert len(lines) == 1
    record = orjson.loads(lines[0])
    assert record["tool"] == "run_command" and record["decision"] == "ask→denied"
    assert record["reason"] == "denied by the person: no" and record["outcome"] == "refused"
    assert record["arguments"] == {"command": "rm -rf x"} and "at" in record
    assert "task_id" not in record  # empty fields are left out


def test_filters_by_task_conversation_decision_and_time(workspace) -> None:
    log = AuditLog(workspace.audit)
    log.write(AuditEntry(tool="read_file", tier="read", decision="allow", reason="mode auto-edit", conversation="chat"))
    log.write(AuditEntry(tool="run_command", tier="exec", decision="deny", reason="rule deny run_command(rm *)",
                         task_id="t-00000001", origin="user"))
    log.write(AuditEntry(tool="write_file", tier="write", decision="ask→allowed", reason="approved by the person",
                         conversation="research"))
    assert [entry["tool"] for entry in log.entries(task_id="t-00000001")] == ["run_command"]
    assert [entry["tool"] for entry in log.entries(conversation="research")] == ["write_file"]
    assert [entry["tool"] for entry in log.entries(decisions=["denied"])] == ["run_command"]
    assert [entry["tool"] for entry in log.entries(decisions=["allowed"])] == ["read_file", "write_file"]
    assert [entry["tool"] for entry in log.entries(decisions=["ask"])] == ["write_file"]
    assert len(list(log.entries(since=utc_now() - timedelta(minutes=5)))) == 3
    assert list(log.entries(since=utc_now() + timedelta(minutes=5))) == []


def test_rotation_keeps_every_entry_readable_oldest_first(workspace) -> None:
    log = AuditLog(workspace.audit, max_bytes=2_000, backups=50)
    for number in range(100):
        log.write(AuditEntry(tool="read_file", tier="read", decision="allow", reason=f"call {number}"))
    assert workspace.audit.with_name("audit.jsonl.1").exists()
    assert [entry["reason"] for entry in log.entries()] == [f"call {number}" for number in range(100)]


def test_a_torn_line_is_skipped_not_fatal(workspace) -> None:
    log = AuditLog(workspace.audit)
    log.write(AuditEntry(tool="a", tier="read", decision="allow", reason="x"))
    with open(workspace.audit, "ab") as handle:
        handle.write(b'{"tool": "torn"')
    with open(workspace.audit, "ab") as handle:
        handle.write(b"\n")
    log.write(AuditEntry(tool="b", tier="read", decision="allow", reason="y"))
    assert [entry["tool"] for entry in log.entries()] == ["a", "b"]


@pytest.mark.parametrize("text,seconds", [("30m", 1800), ("1h", 3600), ("2d", 172800), ("45s", 45), ("1.5h", 5400)])
def test_since_durations(text: str, seconds: int) -> None:
    assert abs((utc_now() - parse_since(text)).total_seconds() - seconds) < 5


@pytest.mark.parametrize("bad", ["", "yesterday", "-1h", "1y", "99999999999999999999d"])
def test_bad_since_is_a_plain_error(bad: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_since(bad)
    assert "Traceback" not in str(raised.value) and str(raised.value)
