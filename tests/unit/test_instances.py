"""One instance per run directory (issue 9): a second instance beside the first shares nothing."""

from __future__ import annotations

import uuid

from backend.bus.redis_bus import instance_prefix
from backend.core.settings import REPO_ROOT, Settings, derive_instance_id
from backend.trading.store import Batch


def test_default_instance_when_repo_run_dir_then_default_database_and_prefix():
    s = Settings()
    assert s.run_dir == REPO_ROOT / ".run" and s.instance_id == "default" and s.database_name == "nautilus"


def test_second_instance_when_port_offset_then_own_run_dir_database_prefix_and_ports():
    a, b = Settings(), Settings(port_offset=1000)
    assert b.run_dir == REPO_ROOT / ".run-1000"
    assert b.instance_id != a.instance_id and b.database_name != a.database_name
    assert instance_prefix(b.instance_id) != instance_prefix(a.instance_id)
    assert b.gateway_port == a.gateway_port + 1000 and b.dashboard_port == a.dashboard_port + 1000


def test_instance_id_when_derived_then_stable_per_directory_and_distinct_between_directories(tmp_path):
    assert derive_instance_id(tmp_path / "x") == derive_instance_id(tmp_path / "x")
    assert derive_instance_id(tmp_path / "x") != derive_instance_id(tmp_path / "y")
    assert Settings(run_dir=tmp_path / "x").instance_id == derive_instance_id(tmp_path / "x")


def test_trading_event_ids_when_made_then_time_ordered_uuid7_never_a_database_sequence():
    b = Batch()
    for i in range(3):
        b.event("events.order.s", "order.filled", {"i": i})
    ids = [uuid.UUID(str(row[0])) for row in b.outbox]
    assert all(u.version == 7 for u in ids) and len(set(ids)) == 3 and ids == sorted(ids)
