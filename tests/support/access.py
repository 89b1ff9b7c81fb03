"""Credentials and settings of the test instance: one instance id per test session (its Redis keys
and channels are prefixed with it), the internal token engines accept from the gateway, and the
admin key that subprocess gateways store (hashed) at start."""

from __future__ import annotations

import os
from typing import Any

from backend.auth.guard import INTERNAL_HEADER
from backend.core.settings import Settings

#: This test session's instance: Redis keys/channels ``test<pid>:...``, so parallel sessions never meet.
TEST_INSTANCE = f"test{os.getpid()}"
INTERNAL_TOKEN = "test-internal-token-0123456789abcdef"
INTERNAL_HEADERS = {INTERNAL_HEADER: INTERNAL_TOKEN}
ADMIN_KEY = "ntk_test-admin-key-0123456789abcdefghijklmnop"
ADMIN_HEADERS = {"X-API-Key": ADMIN_KEY}
#: Host headers test clients send (httpx/Starlette test clients say "testserver").
TEST_HOSTS = ["127.0.0.1", "localhost", "::1", "testserver"]


def instance_settings(**kw: Any) -> Settings:
    """Settings of an in-process app of the test instance (engine or gateway)."""
    base: dict[str, Any] = {"instance_id": TEST_INSTANCE, "internal_token": INTERNAL_TOKEN,
                            "allowed_hosts": TEST_HOSTS, "admin_api_key": ADMIN_KEY}
    return Settings(**{**base, **kw})


def instance_env() -> dict[str, str]:
    """Environment of a subprocess of the test instance (engine, gateway, native engine)."""
    return {"NAUTILUS_INSTANCE_ID": TEST_INSTANCE, "NAUTILUS_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "NAUTILUS_ADMIN_API_KEY": ADMIN_KEY}
