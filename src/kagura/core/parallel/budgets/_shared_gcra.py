"""One GCRA budget kept in Redis, so every process and host that names the same key shares it.

The math is the local limiter's (see :mod:`._bucket`): one theoretical arrival time
(TAT) per dimension (requests, tokens), a reservation booked in arrival order and never earlier than the
previous one (``last``: first come, first served). Here it runs inside one
Lua script per admission, on the Redis server's clock (``TIME``), so client clocks never matter and two
processes can never book the same slot. Times are seconds since :data:`EPOCH` to keep microseconds in a
double.

The same script call also registers the caller in the key's member set (a sorted set scored by last
admission), so every process knows how many others share the budget: that count is what a process falls
back to (its fair share) while Redis is away.

Layout, all under ``kagura:budget:<key>``:

- ``...`` (hash): ``tat_req``, ``tat_tok``, ``last``, the rates and bursts last used (``kagura budget show``);
- ``...:members`` (sorted set): client ids scored by their last admission (server time);
- ``...:handover`` (string with a TTL): present while the hand-over after an outage runs;
- ``...:holes`` (hash): cancelled bookings waiting for the bookings after them to be given back too;
- ``...:adaptive`` (hash): what the adaptive controllers learned (written by :mod:`kagura.core.llm`).

Idle keys expire by themselves once their buckets would be full again.

**Giving back a cancelled booking** (:meth:`SharedGCRA.give_back`) is exact, as in the local limiter:
every change of the state (``tat_req``, ``tat_tok``, ``last``) gets a new name (``ver``, from the counter
``seq``), and a reservation carries the state it was booked on. If its booking is still the latest (the
state is still the one it made), the script puts the state back as it was before it: the next admission
starts as if it had never been asked for, and so does every cancelled booking this uncovers as the latest
(kept in ``...:holes`` until then). A cancelled booking with later bookings still standing is not undone:
the next caller would take its slot while those keep theirs, a burst above the budget. Only bookings whose
start is still ahead are kept as holes (the others cannot be reached any more).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from typing import Any

from kagura._redact import redact_url
from kagura.errors import ConfigurationError

__all__ = [
    "EPOCH",
    "KEY_PREFIX",
    "BudgetSnapshot",
    "SharedGCRA",
    "check_redis_url",
    "connect_redis",
    "read_budgets",
]

EPOCH = 1_700_000_000  # seconds; server times are stored relative to this to keep sub-microsecond precision
KEY_PREFIX = "kagura:budget:"
MEMBER_TTL = 60.0  # seconds without an admission after which a process no longer counts as a member

# KEYS[1] state hash, KEYS[2] member set, KEYS[3] the hand-over marker (set after an outage, see
# kagura.core.parallel.budgets._redis_budget), KEYS[4] the holes. ARGV: e_req b_req n_req e_tok b_tok n_tok
# client_id member_ttl (e = seconds per unit, 0 = no such budget; b = capacity in units; n = units asked)
# Returns {wait seconds, now, members, hand-over ms left, the states' new name, then the state before:
# tat_req, tat_tok, last, the names ver and vtok ('' = unset)} as strings (Redis truncates Lua numbers).
_RESERVE = """
local function s(x) return string.format('%.17g', x) end
local t = redis.call('TIME')
local now = (tonumber(t[1]) - EPOCH) + tonumber(t[2]) / 1000000
local before = redis.call('HMGET', KEYS[1], 'tat_req', 'tat_tok', 'last', 'ver', 'vtok')
for i = 1, 5 do before[i] = before[i] or '' end
if before[4] == '' then redis.call('DEL', KEYS[4]) end  -- a new state counter: old holes name nothing
local admit = math.max(now, tonumber(redis.call('HGET', KEYS[1], 'last') or '-1e18'))
local e = {tonumber(ARGV[1]), tonumber(ARGV[4])}
local b = {tonumber(ARGV[2]), tonumber(ARGV[5])}
local n = {tonumber(ARGV[3]), tonumber(ARGV[6])}
local fields = {'tat_req', 'tat_tok'}
local tat = {}
for i = 1, 2 do
  tat[i] = tonumber(redis.call('HGET', KEYS[1], fields[i]) or '-1e18')
  if e[i] > 0 and n[i] > 0 then
    local fit = tat[i] + math.min(n[i], b[i]) * e[i] - b[i] * e[i]
    if fit > admit then admit = fit end
  end
end
local horizon = 0
for i = 1, 2 do
  if e[i] > 0 then
    if n[i] > 0 then
      tat[i] = math.max(tat[i], admit) + n[i] * e[i]
      redis.call('HSET', KEYS[1], fields[i], s(tat[i]))
    end
    horizon = math.max(horizon, tat[i] - now)
  end
end
redis.call('HSET', KEYS[1], 'last', s(admit))
redis.call('HSET', KEYS[1], 'e_req', ARGV[1], 'b_req', ARGV[2], 'e_tok', ARGV[4], 'b_tok', ARGV[5])
local ttl = math.ceil((horizon + 3600) * 1000)
redis.call('PEXPIRE', KEYS[1], ttl)
local member_ttl = tonumber(ARGV[8])
redis.call('ZADD', KEYS[2], now, ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - member_ttl)
redis.call('PEXPIRE', KEYS[2], math.ceil(member_ttl * 1000) + 1000)
local members = redis.call('ZCARD', KEYS[2])
local handover = redis.call('PTTL', KEYS[3])
if handover < 0 then handover = 0 end
local name = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'ver', name, 'vtok', name)
return {s(admit - now), s(now), tostring(members), tostring(handover), tostring(name),
        before[1], before[2], before[3], before[4], before[5]}
""".replace("EPOCH", str(EPOCH))

# KEYS[1] state hash. ARGV: units_req e_req b_req units_tok e_tok b_tok strict (units: + charge, - refund).
# A refund never creates credit beyond a full bucket; a charge counts from no earlier than "bucket full",
# or, strict ('1'), from now with no burst credit (units already spent elsewhere, e.g. during an outage).
# A change renames the state of what it changed: `ver` (the request bucket; bookings before it can no
# longer be undone) or `vtok` (the token bucket; bookings before it keep their tokens), see _GIVE_BACK.
# A cancelled booking is not refunded here (that would leave `last` and the bookings after it in place):
# it goes to _GIVE_BACK.
_ADJUST = """
local function s(x) return string.format('%.17g', x) end
local t = redis.call('TIME')
local now = (tonumber(t[1]) - EPOCH) + tonumber(t[2]) / 1000000
local fields = {'tat_req', 'tat_tok'}
local changed = {false, false}
for i = 1, 2 do
  local units = tonumber(ARGV[i * 3 - 2])
  local e = tonumber(ARGV[i * 3 - 1])
  local b = tonumber(ARGV[i * 3])
  if e > 0 and units ~= 0 then
    local tat = tonumber(redis.call('HGET', KEYS[1], fields[i]) or '-1e18')
    if units < 0 then
      if tat > now then tat = math.max(now, tat + units * e) end
    elseif ARGV[7] == '1' then
      tat = math.max(tat, now) + units * e
    else
      tat = math.max(tat, now - b * e) + units * e
    end
    redis.call('HSET', KEYS[1], fields[i], s(tat))
    changed[i] = true
  end
end
local names = {'ver', 'vtok'}
for i = 1, 2 do
  if changed[i] then redis.call('HSET', KEYS[1], names[i], redis.call('HINCRBY', KEYS[1], 'seq', 1)) end
end
return 1
""".replace("EPOCH", str(EPOCH))

# KEYS[1] state hash, KEYS[2] holes. ARGV: the name of the states the booking made, then the state before
# it (tat_req, tat_tok, last, ver, vtok; '' = unset), and its start (seconds since EPOCH, server clock).
# Undoing the latest booking restores the request bucket and the order (`last`); the token bucket too
# unless an adjustment renamed it since (then the booking's tokens stay spent). Returns how many bookings
# were undone (0: kept as a hole, or already past and not the latest).
_GIVE_BACK = """
local t = redis.call('TIME')
local now = (tonumber(t[1]) - EPOCH) + tonumber(t[2]) / 1000000
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[1] then
  local start = tonumber(ARGV[7])
  if start > now and redis.call('HLEN', KEYS[2]) < MAX_HOLES then
    redis.call('HSET', KEYS[2], ARGV[1], cjson.encode({ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]}))
    local ttl = math.ceil((start - now + 3600) * 1000)
    if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
  end
  return 0
end
local function set(field, value)
  if value == '' then redis.call('HDEL', KEYS[1], field) else redis.call('HSET', KEYS[1], field, value) end
end
local name, state = ARGV[1], {ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]}
local undone = 0
while state do
  set('tat_req', state[1])
  set('last', state[3])
  set('ver', state[4])
  if redis.call('HGET', KEYS[1], 'vtok') == name then
    set('tat_tok', state[2])
    set('vtok', state[5])
  end
  undone = undone + 1
  local hole = state[4] ~= '' and redis.call('HGET', KEYS[2], state[4])
  if hole then
    redis.call('HDEL', KEYS[2], state[4])
    name, state = state[4], cjson.decode(hole)
  else
    state = nil
  end
end
return undone
""".replace("EPOCH", str(EPOCH)).replace("MAX_HOLES", "10000")


def check_redis_url(url: object) -> str:
    """``url`` must look like ``redis://host:port/db`` (``rediss://``, ``unix://``); the client must exist."""
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(
            "redis must be a URL like 'redis://localhost:6379/0' (or rediss://, unix://), "
            f"got {redact_url(url) if isinstance(url, str) else url!r}"
        )
    try:
        import redis.asyncio  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "a Redis-shared budget needs the redis client: pip install 'kagura[redis]'"
        ) from exc
    return url


def connect_redis(url: str) -> Any:
    """An asyncio Redis client for ``url`` (``redis://host:port/db``); the ``redis`` package is an extra."""
    import redis.asyncio as aioredis

    check_redis_url(url)
    return aioredis.Redis.from_url(
        url, socket_connect_timeout=2.0, socket_timeout=2.0, health_check_interval=0, decode_responses=True
    )


@dataclass(frozen=True, slots=True)
class Reservation:
    """The answer of one admission: how long to wait, and what was booked (to give it back on cancel)."""

    wait: float
    now: float
    members: int
    handover: float = 0.0  # seconds of the hand-over after an outage still to run (0: none)
    booking: tuple[str, ...] = ()  # the state's name after it, then the state before it (see give_back)


class SharedGCRA:
    """The Redis side of one shared budget. Each call is one script round trip; errors are redis's own.

    ``rates`` are passed on every call, so the process that last changed them (``set_rates``, the adaptive
    controller) is what the next admission uses everywhere.
    """

    def __init__(self, client: Any, key: str) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string naming the shared budget, got {key!r}")
        self.client = client
        self.key = key
        self.state_key = KEY_PREFIX + key
        self.members_key = self.state_key + ":members"
        self.handover_key = self.state_key + ":handover"
        self.holes_key = self.state_key + ":holes"
        self.client_id = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._reserve = client.register_script(_RESERVE)
        self._adjust = client.register_script(_ADJUST)
        self._give_back = client.register_script(_GIVE_BACK)

    async def reserve(self, req: tuple[float, float, float], tok: tuple[float, float, float]) -> Reservation:
        """Book one admission; ``req``/``tok`` are (seconds per unit or 0, capacity, units asked)."""
        args = [*req, *tok, self.client_id, MEMBER_TTL]
        keys = [self.state_key, self.members_key, self.handover_key, self.holes_key]
        wait, now, members, handover, *booking = await self._reserve(keys=keys, args=args)
        return Reservation(float(wait), float(now), int(members), int(handover) / 1000.0, tuple(booking))

    async def give_back(self, reservation: Reservation) -> int:
        """Give back a booking that will not be used (cancelled before its start); see the module
        docstring. Returns how many bookings were undone (0: later ones still stand, it waits for them)."""
        start = reservation.now + reservation.wait
        args = [*reservation.booking, repr(start)]
        return int(await self._give_back(keys=[self.state_key, self.holes_key], args=args))

    async def adjust(
        self, req: tuple[float, float, float], tok: tuple[float, float, float], *, strict: bool = False
    ) -> None:
        """Charge (+) or refund (-) units; ``req``/``tok`` are (units, seconds per unit or 0, capacity).
        ``strict``: charge from now with no burst credit (units spent elsewhere, not yet refilled)."""
        await self._adjust(keys=[self.state_key], args=[*req, *tok, "1" if strict else "0"])

    async def start_handover(self, seconds: float) -> None:
        """Mark the next ``seconds`` as the hand-over after an outage (kept if already marked)."""
        await self.client.set(self.handover_key, "1", nx=True, px=max(1, int(seconds * 1000)))

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        """Leave the budget (this process no longer counts as a member) and close the connection."""
        with contextlib.suppress(Exception):  # Redis gone: the entry expires after MEMBER_TTL anyway
            await self.client.zrem(self.members_key, self.client_id)
        await self.client.aclose()


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """One shared budget as ``kagura budget show`` prints it."""

    key: str
    requests_per_minute: float | None
    tokens_per_minute: float | None
    backlog_seconds: float  # how far ahead the request bucket is booked (0 = full bucket, idle)
    members: int
    adaptive: dict[str, str]


async def read_budgets(client: Any) -> list[BudgetSnapshot]:
    """Every shared budget under :data:`KEY_PREFIX`, with its members and learned adaptive state."""
    seconds, micros = await client.time()
    now = (int(seconds) - EPOCH) + int(micros) / 1e6
    found: list[BudgetSnapshot] = []
    async for raw in client.scan_iter(match=KEY_PREFIX + "*"):
        name = str(raw)
        if name.endswith((":members", ":adaptive", ":handover", ":holes")):
            continue
        state = await client.hgetall(name)
        key = name[len(KEY_PREFIX) :]
        members = await client.zcount(name + ":members", now - MEMBER_TTL, "+inf")
        adaptive = await client.hgetall(name + ":adaptive")
        e_req, e_tok = float(state.get("e_req", 0)), float(state.get("e_tok", 0))
        tat_req = float(state.get("tat_req", "-1e18"))
        found.append(
            BudgetSnapshot(
                key=key,
                requests_per_minute=60.0 / e_req if e_req > 0 else None,
                tokens_per_minute=60.0 / e_tok if e_tok > 0 else None,
                backlog_seconds=max(0.0, tat_req - now),
                members=int(members),
                adaptive={str(k): str(v) for k, v in adaptive.items()},
            )
        )
    return sorted(found, key=lambda b: b.key)
