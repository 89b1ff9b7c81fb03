"""The native IPC against real sockets and real shared memory."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from native_engines.ipc import frames
from native_engines.ipc.client import NativeCallError, NativeClient, NativeUnavailable
from native_engines.ipc.server import NativeServer
from native_engines.ipc.shm import Attached, ShmPool, stale_segments

pytestmark = pytest.mark.timeout(60)
INSTANCE = f"test{os.getpid()}"


def _mapper(exc: BaseException, op: str) -> dict:
    if isinstance(exc, ValueError):
        return {"status": 422, "code": "INVALID_INPUT", "detail": str(exc)}
    if isinstance(exc, LookupError):
        return {"status": 404, "code": "UNKNOWN_OPERATION", "detail": op}
    return {"status": 500, "code": "INTERNAL", "detail": repr(exc)}


def _handlers() -> dict:
    def total(body):
        return {"sum": float(np.asarray(body["x"]).sum()), "n": int(np.asarray(body["x"]).size)}

    def twice(body):
        return {"y": np.asarray(body["x"]) * 2}

    def bad(body):
        raise ValueError("x must be positive")

    def slow(body):
        import time

        time.sleep(body["s"])
        return b'{"done": true}'

    return {"total": total, "twice": twice, "bad": bad, "slow": slow}


@pytest.fixture
async def server(tmp_path: Path):
    srv = NativeServer("test", tmp_path / "t.sock", _handlers(), instance=INSTANCE, error_mapper=_mapper,
                       info=lambda: {"device": {"type": "cpu"}})
    await srv.start()
    yield srv
    await srv.drain_and_close(2)


@pytest.fixture
async def client(server):
    c = NativeClient(server.path, connections=2, pool=ShmPool(INSTANCE, "client", segment_bytes=8 << 20))
    yield c
    await c.close()


def test_frames_when_arrays_inline_then_roundtrip_exact():
    pack, unpack = frames.make_packer(), frames.make_unpacker()
    arr = np.random.default_rng(0).normal(size=(3, 4))
    data = pack({"a": arr, "b": [1, 2], "i": np.arange(5, dtype=np.int32)})
    out = unpack(data[frames.HEADER.size:])
    np.testing.assert_array_equal(out["a"], arr)
    assert out["i"].dtype == np.int32 and out["b"] == [1, 2]


def test_frames_when_object_array_then_refused():
    with pytest.raises(frames.FrameError):
        frames.make_packer()({"a": np.array(["x"], dtype=object)})


def test_frames_when_inline_size_lies_then_frame_error():
    import msgpack

    bad = msgpack.packb({"a": msgpack.ExtType(frames.EXT_INLINE, msgpack.packb(["<f8", [10], b"\0" * 8]))})
    with pytest.raises(frames.FrameError):
        frames.make_unpacker()(bad)


def test_pool_when_blocks_freed_then_reused_without_new_segments():
    pool = ShmPool(INSTANCE, "pool", segment_bytes=1 << 20)
    try:
        for _ in range(100):
            refs = [pool.place(np.ones(10_000)) for _ in range(5)]
            for seg, off in refs:
                pool.free(seg, off)
        assert len(pool.segments) == 1
        assert pool.segments[next(iter(pool.segments))].free == [(0, 1 << 20)]
    finally:
        pool.close()
    assert not any(Path("/dev/shm").glob(f"nautilus-{INSTANCE}-pool-*"))


async def test_call_when_small_then_result_matches(client):
    assert await client.call("total", {"x": [1.0, 2.0, 3.5]}) == {"sum": 6.5, "n": 3}


async def test_call_when_large_array_then_travels_by_shared_memory_and_is_freed(client):
    x = np.random.default_rng(1).normal(size=1_000_000)
    res = await client.call("total", {"x": x})
    assert res["sum"] == pytest.approx(x.sum()) and res["n"] == x.size
    assert client.pool.total_bytes > 0 and client.pool.allocated == {}


async def test_call_when_large_result_then_copied_out_and_released(server, client):
    x = np.arange(200_000, dtype=np.float64)
    res = await client.call("twice", {"x": x})
    np.testing.assert_array_equal(res["y"], x * 2)
    assert res["y"].flags.owndata
    await client.ping()  # the release frame is processed before this reply
    assert server.results.allocated == {}


async def test_calls_when_pipelined_then_every_reply_matches_its_call(client):
    results = await asyncio.gather(*(client.call("total", {"x": [float(i), 1.0]}) for i in range(2000)))
    assert [r["sum"] for r in results] == [i + 1.0 for i in range(2000)]


async def test_call_when_handler_raises_then_problem_reaches_caller(client):
    with pytest.raises(NativeCallError) as e:
        await client.call("bad", {})
    assert e.value.problem == {"status": 422, "code": "INVALID_INPUT", "detail": "x must be positive"}
    with pytest.raises(NativeCallError) as e:
        await client.call("nope", {})
    assert e.value.problem["status"] == 404


async def test_socket_when_created_then_mode_0600(server):
    assert stat.S_IMODE(server.path.stat().st_mode) == 0o600


async def test_handshake_when_version_differs_then_refused(server):
    reader, writer = await asyncio.open_unix_connection(str(server.path))
    writer.write(frames.make_packer()({"t": "hello", "v": 999}))
    reply = frames.make_unpacker()(await frames.read_frame(reader))
    assert reply["t"] == "err" and reply["problem"]["code"] == "PROTOCOL_VERSION"
    writer.close()


async def test_client_when_server_absent_then_unavailable(tmp_path):
    c = NativeClient(tmp_path / "none.sock")
    with pytest.raises(NativeUnavailable):
        await c.call("total", {"x": [1.0]})
    await c.close()


async def test_server_when_draining_then_inflight_calls_complete(server, client):
    task = asyncio.create_task(client.call("slow", {"s": 0.3}))
    await asyncio.sleep(0.1)
    await server.drain_and_close(5)
    assert await task == b'{"done": true}'


def test_attach_when_attaching_process_exits_then_segment_survives():
    pool = ShmPool(INSTANCE, "owner", segment_bytes=1 << 16)
    try:
        seg, off = pool.place(np.arange(10.0))
        code = (
            "import numpy as np; from native_engines.ipc.shm import Attached; "
            f"a = Attached(); v = a.view({seg!r}, {off}, np.dtype('<f8'), (10,)); "
            "assert v[3] == 3.0; a.close()"
        )
        subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3], timeout=30)
        assert Path(f"/dev/shm/{seg}").exists(), "an attaching process unlinked the owner's segment"
    finally:
        pool.close()


def test_stale_segments_when_owner_dead_then_listed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"nautilus-{INSTANCE}-gateway-{dead.pid}-1").write_bytes(b"x")
    (tmp_path / f"nautilus-{INSTANCE}-gateway-{os.getpid()}-1").write_bytes(b"x")
    stale = stale_segments(INSTANCE, tmp_path)
    assert [p.name for p in stale] == [f"nautilus-{INSTANCE}-gateway-{dead.pid}-1"]


def test_attach_when_instance_id_has_a_hyphen_then_segment_accepted():
    # derived instance ids look like "run20-89c8feb5": the name check refused them, so every array of
    # 64 KiB or more to a native process of such an instance failed and fell back to HTTP
    pool = ShmPool(f"run20-{os.getpid():x}", "gateway", segment_bytes=1 << 16)
    a = Attached()
    try:
        seg, off = pool.place(np.arange(10.0))
        assert a.view(seg, off, np.dtype("<f8"), (10,))[7] == 7.0
    finally:
        a.close()
        pool.close()
