"""Pick the torch device once per process: CUDA, then Apple MPS, then CPU.

``NAUTILUS_DEVICE`` overrides the choice (``cuda``, ``cuda:1``, ``mps``, ``cpu``). When the
requested or preferred accelerator is unusable, the CPU serves and the reason is kept
so that ``/health`` can say why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from backend.core.host import cpu_model


@dataclass(frozen=True)
class DeviceInfo:
    device: str
    type: str
    name: str
    torch_version: str
    fallback_reason: str | None

    def memory(self) -> dict[str, int] | None:
        """Device memory as torch reports it in this process, read now (bytes); None on the CPU.
        CUDA: allocated and reserved by this process's caching allocator, and the device's total.
        MPS: allocated by this process's tensors, held by the Metal driver for it, and the recommended
        working-set ceiling (``recommended_max``) where this torch has it."""
        import torch

        if self.type == "cuda":
            return {"allocated": torch.cuda.memory_allocated(self.device),
                    "reserved": torch.cuda.memory_reserved(self.device),
                    "total": torch.cuda.get_device_properties(self.device).total_memory}
        if self.type == "mps" and hasattr(torch, "mps"):
            mem = {"allocated": torch.mps.current_allocated_memory(),
                   "driver": torch.mps.driver_allocated_memory()}
            if hasattr(torch.mps, "recommended_max_memory"):
                mem["recommended_max"] = torch.mps.recommended_max_memory()
            return mem
        return None

    def as_dict(self) -> dict:
        mem = self.memory()
        if mem is not None:
            mem = {f"{k}_bytes": v for k, v in mem.items()}
        return {"device": self.device, "type": self.type, "name": self.name, "torch": self.torch_version,
                "memory": mem, "fallback": self.fallback_reason is not None,
                "fallback_reason": self.fallback_reason}


def select_device(override: str | None = None) -> DeviceInfo:
    import torch

    want = (override or os.environ.get("NAUTILUS_DEVICE") or "").strip().lower()
    reason = None
    cuda_ok = torch.cuda.is_available()
    mps_ok = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if want.startswith("cuda"):
        if cuda_ok:
            index = int(want.split(":", 1)[1]) if ":" in want else 0
            if index < torch.cuda.device_count():
                return DeviceInfo(f"cuda:{index}", "cuda", torch.cuda.get_device_name(index), torch.__version__, None)
            reason = f"{want} requested but only {torch.cuda.device_count()} CUDA device(s)"
        else:
            reason = f"{want} requested but CUDA is not available"
    elif want == "mps":
        if mps_ok:
            return DeviceInfo("mps", "mps", "Apple GPU (MPS)", torch.__version__, None)
        reason = "mps requested but MPS is not available"
    elif want == "cpu":
        return DeviceInfo("cpu", "cpu", cpu_model(), torch.__version__, None)
    elif want:
        reason = f"unknown NAUTILUS_DEVICE {want!r}"
    elif cuda_ok:
        return DeviceInfo("cuda:0", "cuda", torch.cuda.get_device_name(0), torch.__version__, None)
    elif mps_ok:
        return DeviceInfo("mps", "mps", "Apple GPU (MPS)", torch.__version__, None)
    else:
        reason = "no CUDA or MPS device present"
    return DeviceInfo("cpu", "cpu", cpu_model(), torch.__version__, reason)
