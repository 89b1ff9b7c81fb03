# One image for every platform service; docker-compose.yml picks the command.
FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY engines ./engines
COPY native_engines ./native_engines
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -e .
EXPOSE 8001 8100 8200 8300 8400 8500 8600 8700 8800 8900
CMD ["python", "-m", "backend.gateway"]
