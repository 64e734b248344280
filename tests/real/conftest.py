"""Real tier fixtures live in tests/realenv.py (shared with the browser tier)."""
from tests.realenv import ami, sandbox, server  # noqa: F401  (pytest fixtures)
