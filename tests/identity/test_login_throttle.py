"""The sign-in throttle (issue 12): guessing is bounded per account, and nobody can use it to keep
an account's owner out, nor everyone behind a shared address (a campus NAT)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.identity.test_auth import PASSWORD, audit_rows, login, token_count
from tests.support.api_asserts import assert_error
from tests.support.concurrency import at_once

# 2026-03-02 14:20:00 Beijing time: the throttle decides on its clock only, so tests move it.
T0 = datetime(2026, 3, 2, 6, 20, tzinfo=UTC).timestamp()
HOME, NAT = "192.0.2.10", "10.20.0.1"
ELSEWHERE = [f"198.51.100.{i}" for i in range(1, 10)]  # an attacker's networks


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(rt, monkeypatch):  # noqa: ANN001, ANN201
    c = Clock(T0)
    monkeypatch.setattr(rt.throttle, "clock", c)
    return c


def fail(anon, username: str, address: str, times: int = 1) -> None:  # noqa: ANN001
    for _ in range(times):
        assert_error(login(anon, username, "wrong-pass1", address=address), 401, "bad_credentials")


def throttled(resp, limit: str) -> tuple[dict, int]:  # noqa: ANN001
    """A 429 of the login throttle: its body and Retry-After."""
    body = assert_error(resp, 429, "login_rate_limited")
    assert ("当前网络" in body["message"]) == (limit == "pair"), body
    return body, int(resp.headers["Retry-After"])


def test_pair_locked_after_five_failures_and_the_429_says_when_in_chinese(app, db, world, anon, clock):
    """Five misses for one username from one network lock that pair: the sixth attempt is
    refused before the password is looked at (so a hit is not told from a miss), and the
    answer says in Chinese, in minutes and in Beijing time, when to try again."""
    assert app.config["LOGIN_PAIR_MAX_FAILURES"] == 5
    fail(anon, "chair", NAT, 5)
    body, retry_after = throttled(login(anon, "chair", address=NAT), "pair")
    assert body["message"] == "该账号在当前网络登录失败次数过多，请 15 分钟后再试（北京时间 14:35 之后）"
    assert retry_after == 900
    assert token_count(db, world.users["chair"]) == 1  # the one `world` issued
    assert len(audit_rows(db, "auth.login_failed")) == 5
    assert audit_rows(db, "auth.login") == []


def test_shared_network_slows_only_the_failing_username(world, anon, clock):
    """Behind a campus NAT, A's misses lock A there; B and C behind the same address sign in,
    B even after a miss of its own, and A itself signs in from another network."""
    fail(anon, "chair", NAT, 5)
    throttled(login(anon, "chair", address=NAT), "pair")
    assert login(anon, "staff", address=NAT).status_code == 200
    fail(anon, "sub_chair", NAT, 2)
    assert login(anon, "sub_chair", address=NAT).status_code == 200
    assert login(anon, "chair", address=ELSEWHERE[0]).status_code == 200
    throttled(login(anon, "chair", address=NAT), "pair")  # a success elsewhere does not open NAT


def test_throttled_attempt_is_audited_although_the_request_fails(db, world, anon, clock):
    """Every refused attempt leaves a row: who was tried, from where, which limit, how long."""
    fail(anon, "chair", NAT, 5)
    clock.advance(60)
    for _ in range(2):
        throttled(login(anon, "chair", address=NAT), "pair")
    rows = audit_rows(db, "auth.login_throttled")
    assert len(rows) == 2
    row = rows[0]
    assert (row.actor_user_id, row.actor_name, row.object_id, row.address) == (
        None, "chair", str(world.users["chair"]), NAT)
    assert row.new == {"username": "chair", "limit": "pair", "cause": "failures", "retry_after": 840}
    assert PASSWORD not in json.dumps([row.old, row.new])


def test_owner_signs_in_at_home_after_an_attacker_elsewhere_spent_the_account_budget(app, db, world, anon, clock):
    """An attacker who knows the username uses up its hourly budget from four networks; the
    21st attempt from anywhere new is refused even with the right password, but the owner
    signs in from the network they signed in from before."""
    budget = app.config["LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR"]
    assert budget == 20
    assert login(anon, "chair", address=HOME).status_code == 200  # HOME becomes a known network
    for address in ELSEWHERE[:4]:
        fail(anon, "chair", address, 5)
    body, retry_after = throttled(login(anon, "chair", address=ELSEWHERE[4]), "account")
    assert body["message"] == ("该账号登录失败次数过多，请 1 小时后再试（北京时间 15:20 之后）；"
                               "在近期成功登录过的网络仍可登录")
    assert retry_after == 3600
    row = audit_rows(db, "auth.login_throttled")[-1]
    assert row.new == {"username": "chair", "limit": "account", "retry_after": 3600}
    assert row.address == ELSEWHERE[4]

    assert login(anon, "chair", address=HOME).status_code == 200
    # A mistype at home still counts there, and home stays open while its own pair is not locked.
    fail(anon, "chair", HOME, 1)
    assert login(anon, "chair", address=HOME).status_code == 200
    throttled(login(anon, "chair", address="203.0.113.7"), "account")  # a network new to the account waits
    # Another account is not affected by chair's spent budget.
    assert login(anon, "staff", address=ELSEWHERE[4]).status_code == 200


def test_guesses_an_hour_are_exactly_the_figure_in_the_readme(app, world, anon, clock):
    """The README promises a figure of wrong passwords an hour per account; an attacker spreading
    them over networks gets exactly that many in any 60 minutes (a sliding hour, not a window
    that resets), and a success at home does not give the attacker a fresh budget."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    figure = int(re.search(r"每个账号：所有网络合计每小时最多 (\d+) 次密码错误", readme).group(1))
    assert figure == app.config["LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR"]

    assert login(anon, "chair", address=HOME).status_code == 200
    answers = []
    for i in range(figure + 5):  # one guess a minute, from a new network every four guesses
        answers.append(login(anon, "chair", "wrong-pass1", address=f"198.51.{i // 4}.1").status_code)
        if i == 10:
            assert login(anon, "chair", address=HOME).status_code == 200  # clears home's pair only
        clock.advance(60)
    assert answers == [401] * figure + [429] * 5
    # At T0 + 25 min: the first failure (at T0) leaves the hour at T0 + 60 min, and not before.
    _, retry_after = throttled(login(anon, "chair", address="198.51.50.1"), "account")
    assert retry_after == 35 * 60
    clock.advance(retry_after - 1)
    throttled(login(anon, "chair", address="198.51.50.1"), "account")
    clock.advance(1)
    fail(anon, "chair", "198.51.50.1", 1)  # one place opened: one guess
    _, retry_after = throttled(login(anon, "chair", address="198.51.50.2"), "account")
    assert retry_after == 60  # the next place opens when the failure made at T0 + 1 min leaves


def test_pair_lock_ends_then_the_next_one_lasts_twice_as_long(world, anon, clock):
    """The lock ends on time (no sleeping: the clock moves); a pair that keeps failing waits
    longer each time; a success clears the pair's count and its lock."""
    fail(anon, "chair", NAT, 5)
    _, retry_after = throttled(login(anon, "chair", address=NAT), "pair")
    assert retry_after == 900
    clock.advance(899)
    _, retry_after = throttled(login(anon, "chair", address=NAT), "pair")
    assert retry_after == 1
    clock.advance(1)
    fail(anon, "chair", NAT, 5)
    body, retry_after = throttled(login(anon, "chair", address=NAT), "pair")
    assert retry_after == 1800 and "30 分钟后" in body["message"] and "北京时间 15:05 之后" in body["message"]
    clock.advance(1800)
    assert login(anon, "chair", address=NAT).status_code == 200
    fail(anon, "chair", NAT, 4)
    assert login(anon, "chair", address=NAT).status_code == 200  # the count was cleared
    fail(anon, "chair", NAT, 5)
    _, retry_after = throttled(login(anon, "chair", address=NAT), "pair")
    assert retry_after == 900  # and so was the lock's doubling


def test_pair_window_is_fifteen_minutes(world, anon, clock):
    """Misses spread wider than the window never lock the pair."""
    for _ in range(12):
        fail(anon, "chair", NAT, 1)
        clock.advance(226)  # any five misses span 904 s: never five within 900 s
    assert login(anon, "chair", address=NAT).status_code == 200


def test_one_network_failing_for_many_usernames_locks_each_further_failing_username_at_once(
        app, db, world, anon, clock):
    """Spraying one password over many usernames from one network: after ten usernames failed
    there, a username that fails there is locked at its first miss; usernames that do not fail
    sign in as usual, and the locked one still signs in from elsewhere."""
    assert app.config["LOGIN_ADDRESS_MAX_FAILING_USERNAMES"] == 10
    for i in range(10):
        fail(anon, f"guess{i}", NAT, 1)
    assert login(anon, "staff", address=NAT).status_code == 200
    fail(anon, "guess0", NAT, 1)  # an eleventh distinct username is not needed: any further failure
    throttled(login(anon, "guess0", address=NAT), "pair")
    fail(anon, "chair", NAT, 1)
    throttled(login(anon, "chair", address=NAT), "pair")
    assert login(anon, "chair", address=ELSEWHERE[0]).status_code == 200
    assert login(anon, "sub_chair", address=NAT).status_code == 200
    rows = audit_rows(db, "auth.login_throttled")
    assert [(r.actor_name, r.new["cause"]) for r in rows] == [("guess0", "many_usernames"), ("chair", "many_usernames")]
    clock.advance(900)  # the window passes: the network is treated as any other again
    fail(anon, "chair", NAT, 4)
    assert login(anon, "chair", address=NAT).status_code == 200


def test_throttled_answer_is_the_same_for_unknown_usernames_and_checks_no_password(
        db, world, anon, clock, monkeypatch):
    """A refused attempt must not tell whether the account exists: same answer, no password check."""
    from server.domain.accounts import users as accounts

    for username in ("chair", "nobody"):
        fail(anon, username, NAT, 5)
    checks = []
    real = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda *a: checks.append(a) or real(*a))
    answers = []
    for username in ("chair", "nobody"):
        resp = login(anon, username, address=NAT)
        answers.append((resp.status_code, resp.get_json(), resp.headers["Retry-After"]))
    assert answers[0] == answers[1] and answers[0][0] == 429
    assert checks == []
    assert [r.object_id for r in audit_rows(db, "auth.login_throttled")] == [str(world.users["chair"]), None]


def test_ipv6_is_counted_by_its_slash_64(world, anon, clock):
    """Hopping addresses inside one /64 does not give a fresh pair; the next /64 is another network."""
    for i in range(5):
        fail(anon, "chair", f"2001:db8:0:1::{i + 1}", 1)
    throttled(login(anon, "chair", address="2001:db8:0:1::99"), "pair")
    assert login(anon, "chair", address="2001:db8:0:2::1").status_code == 200


def test_concurrent_attempts_cannot_exceed_the_budget(rt, db, clock):
    """Each attempt reserves its place in Redis before its password is checked: forty parallel
    wrong guesses from forty networks get exactly the budget, however they interleave."""
    from server.domain.accounts.login_throttle import Attempt, LoginThrottle

    throttle = LoginThrottle(rt.redis, rt.throttle.prefix, rt.throttle.limits, clock=clock)
    admitted: list[Attempt] = []

    def guess(worker: int) -> None:
        for i in range(5):
            attempt = throttle.admit("chair", f"198.51.{worker}.{i}")
            if isinstance(attempt, Attempt):
                admitted.append(attempt)
                throttle.fail(attempt)

    at_once([lambda n=n: guess(n) for n in range(8)])
    assert len(admitted) == rt.throttle.limits.account_per_hour


def test_network_of():
    from server.domain.accounts.login_throttle import network_of

    assert network_of("10.20.0.1") == "10.20.0.1"
    assert network_of("2001:db8:0:1:aaaa::1") == network_of("2001:db8:0:1::2") == "2001:db8:0:1::/64"
    assert network_of("::ffff:10.20.0.1") == "10.20.0.1"
    assert network_of(None) is None


def test_success_clears_the_pair_count(world, anon, clock):
    """Someone who mistypes now and then is never locked out by old misses."""
    for _ in range(2):
        fail(anon, "chair", NAT, 4)
        assert login(anon, "chair", address=NAT).status_code == 200
