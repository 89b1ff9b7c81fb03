"""GPU readings from the device itself: NVIDIA's management library (NVML), else ``nvidia-smi``.

Every figure is what the driver reports at ``read_at``; a figure the driver does not give (a
``[N/A]`` from nvidia-smi, an NVML call the device does not support) is None, never a guess.
Apple GPUs have no such interface: their memory is read by torch in the native processes that use
the device (``native_engines.device.DeviceInfo.memory``) and reported through their health.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from dataclasses import dataclass

SMI_FIELDS = ("index", "name", "uuid", "memory.total", "memory.used", "utilization.gpu", "utilization.memory",
              "temperature.gpu", "power.draw", "driver_version")
SMI_TIMEOUT_S = 5.0
MIB = 1024 * 1024


@dataclass(frozen=True)
class GpuReading:
    index: int
    name: str
    uuid: str | None
    memory_total_bytes: int | None
    memory_used_bytes: int | None
    utilisation_ratio: float | None  # share of the last sample period a kernel ran (0-1)
    memory_utilisation_ratio: float | None  # share of it device memory was read or written (0-1)
    temperature_celsius: float | None
    power_watts: float | None
    driver_version: str | None
    source: str  # "nvml" or "nvidia-smi"
    read_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def read_nvml() -> list[GpuReading]:
    """Every NVIDIA device through NVML; raises when the library or driver is absent."""
    import pynvml

    pynvml.nvmlInit()
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = _try(lambda h=h: pynvml.nvmlDeviceGetMemoryInfo(h))
            util = _try(lambda h=h: pynvml.nvmlDeviceGetUtilizationRates(h))
            temp = _try(lambda h=h: pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))
            power_mw = _try(lambda h=h: pynvml.nvmlDeviceGetPowerUsage(h))
            out.append(GpuReading(
                index=i, name=_text(pynvml.nvmlDeviceGetName(h)), uuid=_try(lambda h=h: _text(
                    pynvml.nvmlDeviceGetUUID(h))),
                memory_total_bytes=int(mem.total) if mem else None, memory_used_bytes=int(mem.used) if mem else None,
                utilisation_ratio=util.gpu / 100.0 if util else None,
                memory_utilisation_ratio=util.memory / 100.0 if util else None,
                temperature_celsius=float(temp) if temp is not None else None,
                power_watts=power_mw / 1000.0 if power_mw is not None else None,
                driver_version=driver, source="nvml", read_at=_now()))
        return out
    finally:
        pynvml.nvmlShutdown()


def parse_smi(text: str, read_at: dt.datetime) -> list[GpuReading]:
    """Rows of ``nvidia-smi --query-gpu=<SMI_FIELDS> --format=csv,noheader,nounits``."""
    out = []
    for line in text.strip().splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(SMI_FIELDS):
            continue
        v = dict(zip(SMI_FIELDS, cells, strict=True))
        out.append(GpuReading(
            index=int(v["index"]), name=v["name"], uuid=_na(v["uuid"]),
            memory_total_bytes=_num(v["memory.total"], MIB), memory_used_bytes=_num(v["memory.used"], MIB),
            utilisation_ratio=_ratio(v["utilization.gpu"]), memory_utilisation_ratio=_ratio(v["utilization.memory"]),
            temperature_celsius=_float(v["temperature.gpu"]), power_watts=_float(v["power.draw"]),
            driver_version=_na(v["driver_version"]), source="nvidia-smi", read_at=read_at))
    return out


def read_smi() -> list[GpuReading]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        raise FileNotFoundError("nvidia-smi is not on PATH")
    done = subprocess.run([exe, f"--query-gpu={','.join(SMI_FIELDS)}", "--format=csv,noheader,nounits"],
                          capture_output=True, text=True, timeout=SMI_TIMEOUT_S, check=True)
    return parse_smi(done.stdout, _now())


def read_gpus() -> tuple[list[GpuReading], list[str]]:
    """NVIDIA devices and, when there are none, why each way of reading them found nothing."""
    notes = []
    try:
        return read_nvml(), notes
    except Exception as e:  # noqa: BLE001 - any NVML failure: say why, try the next way
        notes.append(f"NVML: {type(e).__name__}: {e}")
    try:
        return read_smi(), notes
    except Exception as e:  # noqa: BLE001
        notes.append(f"nvidia-smi: {type(e).__name__}: {e}")
    return [], notes


def _try(fn):  # noqa: ANN001, ANN202 - NVML raises for figures a device does not support
    try:
        return fn()
    except Exception:  # noqa: BLE001
        return None


def _text(v: str | bytes) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _na(s: str) -> str | None:
    return None if not s or s.startswith("[") or s in ("N/A", "Not Supported") else s


def _float(s: str) -> float | None:
    try:
        return float(s) if _na(s) is not None else None
    except ValueError:
        return None


def _num(s: str, scale: int) -> int | None:
    f = _float(s)
    return None if f is None else int(f * scale)


def _ratio(s: str) -> float | None:
    f = _float(s)
    return None if f is None else f / 100.0
