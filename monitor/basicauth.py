"""Basic auth against bcrypt hashes, checked once per distinct credential rather than once
per scrape: bcrypt takes tens of milliseconds by design, and Prometheus comes every 15 s.

The cache keys are HMACs of user and password under a key drawn at start-up and never
written anywhere, so neither the password nor anything that could be checked against it
offline without that key is kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping

import bcrypt

CACHE_SIZE = 256


class BasicAuth:
    def __init__(self, users: Mapping[str, bytes], cache_size: int = CACHE_SIZE) -> None:
        self._users = dict(users)
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, bool] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        # One bcrypt at a time: a flood of wrong passwords costs one core, not all of them.
        self._bcrypt_lock = threading.Lock()
        # Unknown users are checked against a hash of the same cost, so that the answer's
        # timing does not tell which user names exist.
        cost = int(next(iter(self._users.values()))[4:6]) if self._users else 4
        self._decoy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost))

    def allows(self, authorization: str | None) -> bool:
        """Whether an Authorization header carries the password of a configured user."""
        credentials = _basic_credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        # User names cannot contain ':', so user + ':' + password is unambiguous.
        key = hmac.new(self._key, user + b":" + password, hashlib.sha256).digest()
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        allowed = self._check(user, password)
        with self._cache_lock:
            self._cache[key] = allowed
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return allowed

    def _check(self, user: bytes, password: bytes) -> bool:
        try:
            hashed = self._users.get(user.decode("utf-8"))
        except UnicodeDecodeError:
            hashed = None
        with self._bcrypt_lock:
            try:
                # checkpw compares the hashes in constant time.
                matches = bcrypt.checkpw(password, hashed or self._decoy)
            except ValueError:  # more than bcrypt's 72 bytes: no stored hash can match
                matches = False
        return hashed is not None and matches


def _basic_credentials(authorization: str | None) -> tuple[bytes, bytes] | None:
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    return (user, password) if sep else None
