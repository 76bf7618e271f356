"""One redaction for everything kagura prints (issue 19 §4, issue 20 §2): every credential form of a URL,
libpq connection strings, known secrets in every echoed form, and never a word that merely contains one."""

from __future__ import annotations

import pytest

from kagura._redact import credential_free_url, redact_text, redact_url, url_secrets

# (url, what must disappear, what must stay)
URL_FORMS = [
    ("postgresql://u:pw-Secret1@db.example:5433/x?sslmode=require", "pw-Secret1", "postgresql://u:***@db.example:5433/x?sslmode=require"),
    ("postgresql:///kagura?host=/run/pg&password=pw-Secret2", "pw-Secret2", "postgresql:///kagura?host=/run/pg&password=***"),
    ("postgresql://u@db/x?sslpassword=pw-Secret3&sslmode=verify-full", "pw-Secret3", "postgresql://u@db/x?sslpassword=***&sslmode=verify-full"),
    ("postgresql://u@db/x?password=pw%40Secret4", "pw%40Secret4", "postgresql://u@db/x?password=***"),
    ("http://user:pw-Secret5@proxy.internal/v1", "pw-Secret5", "http://user:***@proxy.internal/v1"),
    ("https://gen.example/v1beta?key=AIza-Secret6&alt=sse", "AIza-Secret6", "https://gen.example/v1beta?key=***&alt=sse"),
    ("https://h/v1?api_key=sk-Secret7", "sk-Secret7", "https://h/v1?api_key=***"),
    ("https://h/v1?token=tok-Secret8;x=1", "tok-Secret8", "https://h/v1?token=***;x=1"),
    ("https://h/cb#access_token=tok-Secret9&state=s", "tok-Secret9", "https://h/cb#access_token=***&state=s"),
    ("redis://:pw-Secret10@cache:6379/0", "pw-Secret10", "redis://:***@cache:6379/0"),
    ("rediss://default:pw-Secret11@[::1]:6380/2", "pw-Secret11", "rediss://default:***@[::1]:6380/2"),
    ("redis://:pw#Sec?ret12@cache:6379/0", "Sec?ret12", "redis://:***@cache:6379/0"),  # not encoded
    ("http://host:80/x?next=a@b", "", "http://host:80/x?next=a@b"),  # an "@" after the path is no user info
]  # fmt: skip


@pytest.mark.parametrize(("url", "secret", "masked"), URL_FORMS)
def test_redact_url_masks_every_credential_form(url: str, secret: str, masked: str) -> None:
    assert redact_url(url) == masked
    if secret:
        assert secret not in redact_text(f"cannot connect to {url}: refused")
        assert secret not in credential_free_url(url)
    assert "***" not in credential_free_url(url)


def test_urls_without_credentials_are_unchanged() -> None:
    for url in ("postgresql://u@db/x", "http://127.0.0.1:8000/v1", "redis://localhost:6379/0", "not a url"):
        assert redact_url(url) == url
        assert redact_text(f"at {url}.") == f"at {url}."


def test_credential_free_url_keeps_what_names_the_endpoint() -> None:
    assert (
        credential_free_url("http://user:pw@proxy:8080/v1?key=k&region=eu")
        == "http://proxy:8080/v1?region=eu"
    )
    assert credential_free_url("https://api.openai.com/v1") == "https://api.openai.com/v1"


def test_libpq_connection_strings_and_environment_style_assignments() -> None:
    dsn = "host=db port=5432 password=pw-Secret12 sslpassword='two words' dbname=x"
    masked = redact_text(f"connection failed ({dsn})")
    assert "pw-Secret12" not in masked and "two words" not in masked
    assert "host=db port=5432 password=*** sslpassword=*** dbname=x" in masked
    assert sorted(url_secrets(dsn)) == ["pw-Secret12", "two words"]
    assert redact_text("set KAGURA_LLM_API_KEY=sk-Secret13 first") == "set KAGURA_LLM_API_KEY=*** first"
    # the advice itself is not a secret
    assert redact_text("pass LLMConfig(api_key=...)") == "pass LLMConfig(api_key=...)"


def test_url_secrets_are_what_a_driver_may_echo_alone() -> None:
    assert url_secrets("postgresql://u:p%40ss-1@h/d?password=two&sslpassword=three") == [
        "p@ss-1",
        "two",
        "three",
    ]
    assert url_secrets("postgresql://u@h/d") == []


def test_known_secrets_are_masked_in_every_echoed_form() -> None:
    secret = "sk-live/abc def+123456"
    echoed = ["Bearer sk-live/abc def+123456", "sk-live%2Fabc%20def%2B123456", "sk-live%2Fabc+def%2B123456"]
    for text in echoed:
        assert redact_text(text, secret).count("***") >= 1
        assert "abc" not in redact_text(text, secret)
    assert redact_text("key sk-live/...3456", secret) == "key ***...3456"  # a truncated echo of a long key


def test_a_long_password_starting_with_a_word_masks_only_itself() -> None:
    message = "password authentication failed at postgresql://kagura:password-2024-x@db/kagura"
    assert redact_text(message, "password-2024-x") == (
        "password authentication failed at postgresql://kagura:***@db/kagura"
    )
    assert redact_text("postgresql://u@db: bad", "postgres-Secret-99") == "postgresql://u@db: bad"


@pytest.mark.parametrize("key", ["k", "ch", "eck"])
def test_short_keys_never_mangle_words(key: str) -> None:
    message = "check the model name"
    assert redact_text(message, key) == message


def test_short_keys_are_masked_only_as_whole_tokens() -> None:
    assert redact_text("check the model name", "chec") == "check the model name"
    assert redact_text("key abcd rejected; abcdx and xabcd are words", "abcd") == (
        "key *** rejected; abcdx and xabcd are words"
    )


def test_nothing_to_hide_and_none_secrets() -> None:
    assert redact_text("nothing to hide", None, "", "   ") == "nothing to hide"
