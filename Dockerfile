# One image for every platform service (docker-compose.yml picks the command).
# Two stages: dependencies are built with a compiler in `build`; the final image has the virtual
# environment and the source only (no compiler, no pip cache) and runs as the unprivileged user
# `nautilus` (uid 10001). Base images are pinned by tag.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
# torch is pinned (pyproject.toml); this index serves its CPU build (the image has no CUDA libraries)
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY engines ./engines
COPY native_engines ./native_engines
# the dependencies into /opt/venv; the project itself runs from /app in the final stage
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --extra-index-url "${TORCH_INDEX_URL}" . \
    && /opt/venv/bin/pip uninstall -y nautilus-hybrid

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/opt/venv/bin:$PATH \
    NAUTILUS_RUN_DIR=/run/nautilus NAUTILUS_IMPORT_DIR=/data/imports NAUTILUS_HOST=0.0.0.0
RUN groupadd --system --gid 10001 nautilus \
    && useradd --system --uid 10001 --gid nautilus --home-dir /app --no-create-home --shell /usr/sbin/nologin nautilus \
    && mkdir -p /run/nautilus/logs /data/imports \
    && chown -R nautilus:nautilus /run/nautilus /data/imports \
    && chmod 0700 /run/nautilus
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY engines ./engines
COPY native_engines ./native_engines
USER nautilus:nautilus
EXPOSE 8001 8100 8200 8300 8400 8500 8600 8700 8800 8900
HEALTHCHECK --interval=10s --timeout=3s --retries=10 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8001/health', timeout=2)"]
CMD ["python", "-m", "backend.gateway"]
