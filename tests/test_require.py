"""`require`: a test that needs a missing tool skips on a developer's machine, fails under CI."""

from __future__ import annotations

import pytest

from tests.support import require

REASON = "no Chromium at /usr/bin/chromium"
Outcome = pytest.skip.Exception | pytest.fail.Exception


@pytest.mark.parametrize("ci", [None, "true"])
def test_a_condition_that_holds_lets_the_test_go_on(
    monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    _set_ci(monkeypatch, ci)
    assert require("/usr/bin/npx", REASON) is None


@pytest.mark.parametrize("ci", [None, "", "0", "false"])
def test_without_ci_a_missing_tool_skips_saying_why(
    monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    _set_ci(monkeypatch, ci)
    outcome = _outcome_of(None)
    assert type(outcome) is pytest.skip.Exception
    assert outcome.msg == REASON


@pytest.mark.parametrize("ci", ["true", "1", "True"])
def test_under_ci_a_missing_tool_fails_saying_why(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    _set_ci(monkeypatch, ci)
    outcome = _outcome_of(False)
    assert type(outcome) is pytest.fail.Exception
    assert REASON in str(outcome.msg)
    assert "CI is set" in str(outcome.msg)


def _outcome_of(condition: object) -> Outcome:
    """What `require` raised, caught whichever it was: a skip escaping here would turn the
    test itself into a skip, which would hide a `require` that never fails."""
    with pytest.raises((pytest.skip.Exception, pytest.fail.Exception)) as caught:
        require(condition, REASON)
    return caught.value


def _set_ci(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
