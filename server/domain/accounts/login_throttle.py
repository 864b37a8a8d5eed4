"""Sign-in throttling that an attacker cannot turn against an account's owner (issue 12).

It replaced two counters: five wrong passwords for a username, from anywhere, locked the
account for 15 minutes, and twenty from one address locked everyone behind it (a campus NAT)
out. Anyone who knew a username could keep its owner out, and one careless or hostile user
could keep a whole campus out. The limits are now keyed so that their cost falls on whoever
fails (the family OWASP describes: lock the (account, source) pair, bound the account as a
whole, exempt the sources the owner is known to use):

* **Pair** (username, network): ``pair_failures`` (5) failures within ``pair_window``
  (15 min) lock that username *from that network* for ``pair_lock`` (15 min); each further
  lock of the pair within a day lasts twice as long (30, 60 … minutes, at most a day). User B
  behind the same NAT as a failing user A is not touched, nor is A from any other network.
  A success clears the pair (its count and its lock) and nothing else.
* **Account budget**: at most ``account_per_hour`` (20) failures per username in any
  60-minute span, from all networks together: a sliding log of failures (a sorted set of
  timestamps), so the figure holds for every hour, not only for aligned ones. Once the budget
  is spent, attempts are refused whatever the password, *except* from the account's known
  networks: those where it signed in successfully in the last ``known_days`` (30) days, at
  most :data:`MAX_KNOWN_NETWORKS`, refreshed at each success. Those stay under their pair
  limit. An attacker elsewhere can spend the budget and is refused after it, but cannot keep
  the owner from signing in at home.
* **Many usernames from one network** (one password sprayed over many accounts stays under
  both limits above): once a network has failed for ``address_usernames`` (10) distinct
  usernames within the pair window, each further failure from it locks its pair at once
  instead of after the fifth. Usernames that do not fail there are never held back. We do not
  refuse the network's other usernames before their password is checked: that would have to
  guess who is about to fail, and would hit the NAT's other users, the fault this replaces.

The guessing bound per account: ``account_per_hour`` wrong passwords an hour from networks
the account has not signed in from (the next attempt is answered 429 before its password is
looked at); beyond that only from its known networks, each within its pair limit.

What remains: whoever shares the owner's network (the same NAT) can lock the owner's pair
there, because from here the two are the same source; the owner can sign in from another
network or through SSO / WeChat (local accounts are for bootstrap and small deployments). An
owner on a network new to the account waits while an attacker keeps the budget spent.

**Atomicity**: an attempt reserves its place in the pair's count and in the budget in one
MULTI/EXEC before its password is checked, and gives it back when it is refused or succeeds.
So concurrent attempts in any number of web processes cannot get past either limit; at worst
a refusal comes a moment early while another request holds its reservation. No Lua:
fakeredis, the embedded default, runs without it.

**Time**: every decision compares timestamps from ``clock`` (sorted-set scores, hash fields);
Redis TTLs only collect what no decision reads any more. Tests move the clock instead of
sleeping; web servers only need NTP-level agreement.

**Existence**: nothing here reads the database. A username without an account gets the same
counters and answers as one with an account, and a refused attempt checks no password, so a
throttled answer tells nothing about whether the account exists.

**Networks**: an IPv4 address as is, IPv6 by its /64 (one host, household or LAN): otherwise an
attacker holding a /64 would get a fresh pair for every address in it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from server.core.timeutil import LOCAL_TZ

HOUR = 3600
DAY = 86400
MAX_PAIR_LOCK = DAY
MAX_KNOWN_NETWORKS = 10
NO_ADDRESS = "-"


@dataclass(frozen=True)
class ThrottleLimits:
    """The figures; :mod:`server.config` fills them from the ``UNION_LOGIN_*`` settings."""

    account_per_hour: int = 20
    pair_failures: int = 5
    pair_window: int = 900
    pair_lock: int = 900
    address_usernames: int = 10
    known_days: int = 30


@dataclass(frozen=True)
class Attempt:
    """An admitted attempt, holding its reservations until :meth:`LoginThrottle.fail` or
    :meth:`LoginThrottle.succeed` settles it."""

    username: str
    network: str | None
    token: str
    pair_failures: int  # failures of the pair within its window, this attempt included
    lock_level: int  # how many times the pair was locked within the last day


@dataclass(frozen=True)
class Refusal:
    """An attempt refused before its password was checked."""

    limit: str  # "pair": this username from this network; "account": the account's hourly budget
    cause: str | None  # for "pair": "failures" (too many here) or "many_usernames" (a spraying network)
    now: float
    until: float

    @property
    def retry_after(self) -> int:
        return max(math.ceil(self.until - self.now), 1)

    @property
    def message(self) -> str:
        when = f"请 {_duration(self.retry_after)}后再试（北京时间 {_local_time(self.now, self.until)} 之后）"
        if self.limit == "pair":
            return f"该账号在当前网络登录失败次数过多，{when}"
        return f"该账号登录失败次数过多，{when}；在近期成功登录过的网络仍可登录"


def network_of(address: str | None) -> str | None:
    """The source a pair and a known network are counted by: IPv4 as is, IPv6 by its /64."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class LoginThrottle:
    def __init__(self, redis: Any, prefix: str, limits: ThrottleLimits | None = None,
                 clock: Callable[[], float] = time.time):
        self.redis = redis
        self.prefix = prefix
        self.limits = limits or ThrottleLimits()
        self.clock = clock

    # ---- keys -----------------------------------------------------------------------------

    def _budget(self, username: str) -> str:
        return f"{self.prefix}login:budget:{username}"

    def _known(self, username: str) -> str:
        return f"{self.prefix}login:known:{username}"

    def _pair(self, username: str, network: str | None) -> tuple[str, str]:
        # A network holds no newline, so network + newline + username names one pair only.
        digest = hashlib.sha256(f"{network or NO_ADDRESS}\n{username}".encode()).hexdigest()[:32]
        return f"{self.prefix}login:pair:{digest}", f"{self.prefix}login:pair-lock:{digest}"

    def _failing_usernames(self, network: str) -> str:
        return f"{self.prefix}login:failing:{network}"

    # ---- the three steps of an attempt ------------------------------------------------------

    def admit(self, username: str, address: str | None) -> Attempt | Refusal:
        """Reserve this attempt's place under both limits, or refuse it (and give it back)."""
        lim, now, network = self.limits, self.clock(), network_of(address)
        token = secrets.token_hex(8)
        budget, known = self._budget(username), self._known(username)
        pair, lock = self._pair(username, network)
        pipe = self.redis.pipeline()
        pipe.zremrangebyscore(budget, "-inf", now - HOUR)
        pipe.zadd(budget, {token: now})
        pipe.zcard(budget)
        pipe.expire(budget, HOUR)
        pipe.zremrangebyscore(pair, "-inf", now - lim.pair_window)
        pipe.zadd(pair, {token: now})
        pipe.zcard(pair)
        pipe.expire(pair, lim.pair_window)
        pipe.hgetall(lock)
        pipe.zscore(known, network or NO_ADDRESS)
        result = pipe.execute()
        spent, pair_count, lock_fields, known_at = result[2], result[6], _decoded(result[8]), result[9]

        refusals: list[Refusal] = []
        locked_until = float(lock_fields.get("until", 0))
        if locked_until > now:
            refusals.append(Refusal("pair", lock_fields.get("cause", "failures"), now, locked_until))
        elif pair_count > lim.pair_failures:  # concurrent attempts racing the lock being set
            refusals.append(Refusal("pair", "failures", now, now + lim.pair_lock))
        is_known = network is not None and known_at is not None and float(known_at) > now - lim.known_days * DAY
        if spent > lim.account_per_hour and not is_known:
            # A place opens when the oldest failures beyond the budget leave the hour.
            rank = spent - 1 - lim.account_per_hour
            oldest = self.redis.zrange(budget, rank, rank, withscores=True)
            refusals.append(Refusal("account", None, now, (oldest[0][1] if oldest else now) + HOUR))
        if refusals:
            self._give_back(budget, pair, token)
            return max(refusals, key=lambda r: r.until)
        last_lock = float(lock_fields.get("at", 0))
        level = int(lock_fields.get("level", 0)) if last_lock > now - DAY else 0
        return Attempt(username, network, token, pair_count, level)

    def fail(self, attempt: Attempt) -> None:
        """A wrong password: both reservations stay as failures; lock the pair when due."""
        lim, now = self.limits, self.clock()
        pair, lock = self._pair(attempt.username, attempt.network)
        failing_before = 0  # distinct usernames that failed from this network within the window
        if attempt.network is not None:
            failing = self._failing_usernames(attempt.network)
            pipe = self.redis.pipeline()
            pipe.zremrangebyscore(failing, "-inf", now - lim.pair_window)
            pipe.zcard(failing)
            pipe.zadd(failing, {attempt.username: now})
            pipe.expire(failing, lim.pair_window)
            failing_before = pipe.execute()[1]
        if attempt.pair_failures >= lim.pair_failures:
            cause = "failures"
        elif failing_before >= lim.address_usernames:
            cause = "many_usernames"
        else:
            return
        level = attempt.lock_level + 1
        seconds = min(lim.pair_lock * 2 ** (level - 1), MAX_PAIR_LOCK)
        pipe = self.redis.pipeline()
        pipe.hset(lock, mapping={"until": now + seconds, "at": now, "level": level, "cause": cause})
        pipe.expire(lock, math.ceil(seconds) + DAY)  # the level is remembered for a day after the lock
        pipe.delete(pair)  # a lock starts a fresh count
        pipe.execute()

    def succeed(self, attempt: Attempt) -> None:
        """The right password: clear the pair, return the budget place, remember the network."""
        lim, now = self.limits, self.clock()
        pair, lock = self._pair(attempt.username, attempt.network)
        pipe = self.redis.pipeline()
        pipe.delete(pair, lock)
        pipe.zrem(self._budget(attempt.username), attempt.token)
        if attempt.network is not None:
            known = self._known(attempt.username)
            pipe.zadd(known, {attempt.network: now})
            pipe.zremrangebyscore(known, "-inf", now - lim.known_days * DAY)
            pipe.zremrangebyrank(known, 0, -(MAX_KNOWN_NETWORKS + 1))
            pipe.expire(known, lim.known_days * DAY)
            pipe.zrem(self._failing_usernames(attempt.network), attempt.username)
        pipe.execute()

    def _give_back(self, budget: str, pair: str, token: str) -> None:
        pipe = self.redis.pipeline()
        pipe.zrem(budget, token)
        pipe.zrem(pair, token)
        pipe.execute()


def _decoded(fields: dict[Any, Any]) -> dict[str, str]:
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else str(v))
            for k, v in fields.items()}


def _duration(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} 分钟"
    hours, rest = divmod(minutes, 60)
    return f"{hours} 小时 {rest} 分钟" if rest else f"{hours} 小时"


def _local_time(now: float, until: float) -> str:
    """When the wait ends, in Beijing time, rounded up to the minute; with the date if not today."""
    end = datetime.fromtimestamp(math.ceil(until / 60) * 60, UTC).astimezone(LOCAL_TZ)
    today = datetime.fromtimestamp(now, UTC).astimezone(LOCAL_TZ).date()
    return f"{end:%H:%M}" if end.date() == today else f"{end.month} 月 {end.day} 日 {end:%H:%M}"
