"""The torch direction models: an MLP on indicator rows and an LSTM on windows of past returns.

Each network carries its input scaling as buffers (training mean and deviation), so its ``state_dict`` (what
the registry stores with safetensors) is the whole model; it outputs the logit of P(up). Everything is
float32 (Apple's MPS has no float64), inputs included. Training is seeded
full-epoch mini-batch Adam on the binary cross-entropy; the same seed gives the same weights on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, n_features: int, hidden: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.body = nn.Sequential(*layers)
        self.register_buffer("mu", torch.zeros(n_features))
        self.register_buffer("sd", torch.ones(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x.to(torch.float32) - self.mu) / self.sd).squeeze(-1)


class LSTMNet(nn.Module):
    def __init__(self, window: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        self.register_buffer("scale", torch.ones(1))
        self.window = window

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x.to(torch.float32) / self.scale).unsqueeze(-1)
        out, _ = self.lstm(z)
        return self.head(out[:, -1]).squeeze(-1)


def build(spec: Any, n_features: int) -> nn.Module:
    """The untrained network of a spec (``MlpSpec`` or ``LstmSpec``)."""
    if spec.model_type == "mlp":
        return MLP(n_features, list(spec.hidden))
    return LSTMNet(spec.window, spec.hidden)


def fit(spec: Any, X: np.ndarray, y: np.ndarray, progress: Callable[[int, float], None] | None = None) -> nn.Module:
    """Train on rows ``X`` (features, or return windows) and labels ``y`` in {0, 1}; CPU, seeded."""
    torch.manual_seed(spec.seed)
    net = build(spec, X.shape[1])
    with torch.no_grad():
        if isinstance(net, MLP):
            net.mu.copy_(torch.from_numpy(X.mean(axis=0)))
            net.sd.copy_(torch.from_numpy(np.maximum(X.std(axis=0), 1e-8)))
        else:
            net.scale.fill_(float(max(X.std(), 1e-12)))
    wd = getattr(spec, "weight_decay", 0.0)
    opt = torch.optim.Adam(net.parameters(), lr=spec.learning_rate, weight_decay=wd)
    loss_fn = nn.BCEWithLogitsLoss()
    Xt, yt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)), torch.from_numpy(y.astype(np.float32))
    gen = torch.Generator().manual_seed(spec.seed)
    net.train()
    for epoch in range(spec.epochs):
        order = torch.randperm(Xt.shape[0], generator=gen)
        total = 0.0
        for lo in range(0, Xt.shape[0], spec.batch_size):
            idx = order[lo:lo + spec.batch_size]
            opt.zero_grad()
            loss = loss_fn(net(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        if progress is not None:
            progress(epoch + 1, total / Xt.shape[0])
    net.eval()
    return net


@torch.no_grad()
def predict_proba(net: nn.Module, X: np.ndarray | torch.Tensor) -> np.ndarray:
    """P(up) of each row, as float64 on the host."""
    x = X if isinstance(X, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    return torch.sigmoid(net(x)).to(torch.float64).cpu().numpy()
