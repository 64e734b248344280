"""What every test tier shares.

Passwords are hashed at argon2id's floor in tests (1 pass, 1 MiB, 1 lane)
instead of the production default (3 passes, 64 MiB, 4 lanes: ~0.2 s a hash):
a test signs users in and creates them, and at full cost that was about a
third of the unit tier. Set through the environment, so the live servers and
CLI commands the real and browser tiers start use it too. The default itself is
held by ``tests/unit/test_accounts_api.py::test_production_hashing_uses_the_library_defaults``.
"""
from __future__ import annotations

import os

TEST_HASH_COST = {"CTIDESK_PASSWORD_HASH_TIME_COST": "1", "CTIDESK_PASSWORD_HASH_MEMORY_KIB": "1024",
                  "CTIDESK_PASSWORD_HASH_PARALLELISM": "1"}
for _name, _value in TEST_HASH_COST.items():
    os.environ.setdefault(_name, _value)
