# LayerLab as a shared demo (docs/DEPLOY.md):
#   docker build -t layerlab .
#   docker run -p 8501:8501 -v layerlab-data:/data layerlab
# Not built in CI (no Docker there): tests/unit/test_deploy_files.py reads this file and checks what must stay
# true (non-root user, /data volume, health check, the same server flags as `make run-shared`).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# tini is process 1: it passes `docker stop`'s SIGTERM on to the server and reaps orphaned children. The
# server itself must not be process 1: a training worker whose parent is process 1 takes it for a dead server
# and exits at once (core/training/jobs.py, _die_with_parent).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# The pinned environment first, so editing the code does not reinstall TensorFlow.
COPY requirements.lock ./
RUN python -m pip install --upgrade "pip>=24" \
    && python -m pip install -r requirements.lock

# Packages LayerLab does not depend on but a deployment may want, e.g. Streamlit's OIDC sign-in:
#   docker build --build-arg EXTRA_PIP_PACKAGES='Authlib>=1.3.2' -t layerlab .
ARG EXTRA_PIP_PACKAGES=""
RUN if [ -n "$EXTRA_PIP_PACKAGES" ]; then python -m pip install $EXTRA_PIP_PACKAGES; fi

# The code, owned by root and read-only for the server's user; the `layerlab` command line comes with it.
COPY . .
RUN python -m pip install --no-deps -e .

# A user without privileges; everything LayerLab writes goes to the /data volume.
RUN useradd --create-home --uid 10001 --user-group layerlab \
    && mkdir -p /data \
    && chown layerlab:layerlab /data

ENV LAYERLAB_HOME=/data \
    LAYERLAB_SHARED=1 \
    LAYERLAB_MAX_UPLOAD_MB=200 \
    TF_CPP_MIN_LOG_LEVEL=2

VOLUME ["/data"]
USER layerlab
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--"]
# The flags of `make run-shared`, plus the address to listen on. `sh -c` only to read LAYERLAB_MAX_UPLOAD_MB
# (so `docker run -e LAYERLAB_MAX_UPLOAD_MB=500` changes both LayerLab's and Streamlit's limit); `exec` makes
# the server tini's direct child.
CMD ["sh", "-c", "exec streamlit run server.py --server.port 8501 --server.address 0.0.0.0 --server.headless true --server.maxUploadSize \"$LAYERLAB_MAX_UPLOAD_MB\" --browser.gatherUsageStats false --server.fileWatcherType none --client.showErrorDetails none --client.toolbarMode viewer"]
