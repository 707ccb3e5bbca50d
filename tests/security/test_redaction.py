"""The Redactor: which environment variables hold secrets, and how their values are replaced."""

from __future__ import annotations

import pytest

from oboto.core.redact import REDACTED, Redactor, looks_secret


@pytest.mark.parametrize("name", [
    "OPENAI_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "DB_PASSWORD", "PGPASSWORD",
    "npm_config__authToken", "HF_TOKEN", "GITLAB_PAT", "SMTP_PASS", "GOOGLE_APPLICATION_CREDENTIALS", "CLIENTSECRET",
])
def test_names_that_look_secret(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize("name", ["PATH", "HOME", "PWD", "OLDPWD", "TOKENIZERS_PARALLELISM", "KEYBOARD_LAYOUT",
                                  "SSH_AUTH_SOCK", "LANG", "PASSAGE_DIR"])
def test_names_that_do_not(name: str) -> None:
    assert not looks_secret(name)


def test_values_of_secret_names_and_extra_names_are_redacted() -> None:
    redactor = Redactor.from_environment(
        {"GITHUB_TOKEN": "ghp_abcdef123456", "DATABASE_URL": "postgres://u:pw@db", "EDITOR": "vim-nox-custom"},
        extra_names=["DATABASE_URL"],
    )
    assert redactor.text("ghp_abcdef123456 at postgres://u:pw@db with vim-nox-custom") == (
        f"{REDACTED} at {REDACTED} with vim-nox-custom")


def test_short_values_are_left_alone() -> None:
    redactor = Redactor.from_environment({"DEBUG_TOKEN": "1", "FEATURE_KEY": "true", "APP_SECRET": "s3cr3t"})
    assert redactor.text("1 true s3cr3t") == f"1 true {REDACTED}"


def test_a_secret_containing_another_is_replaced_whole() -> None:
    redactor = Redactor(["abcdef", "abcdef-and-more"])
    assert redactor.text("x abcdef-and-more y abcdef") == f"x {REDACTED} y {REDACTED}"


def test_data_is_redacted_all_the_way_down() -> None:
    redactor = Redactor(["hunter2hunter2"])
    data = {"output": ["ok", "pw=hunter2hunter2"], "nested": {"hunter2hunter2": 3}, "count": 1}
    assert redactor.data(data) == {"output": ["ok", f"pw={REDACTED}"], "nested": {REDACTED: 3}, "count": 1}


def test_with_no_secrets_text_passes_unchanged() -> None:
    redactor = Redactor([])
    assert not redactor and redactor.text("anything [redacted]") == "anything [redacted]"
