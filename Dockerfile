# syntax=docker/dockerfile:1
# One image for every Mira service; the Deployment picks the service with `mira run SERVICE`.
#   docker build -t mira:0.1.0 .                            CPU decode everywhere
#   docker build --build-arg VARIANT=gpu -t mira-gpu:0.1.0 .  framegrid decodes with NVDEC
# The GPU variant adds no CUDA libraries: the FFmpeg inside PyAV's wheel has the cuda hwaccel and the cuvid
# decoders built in and loads libcuda and libnvcuvid at run time; the NVIDIA container runtime injects those
# from the node's driver when NVIDIA_DRIVER_CAPABILITIES asks for them.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG VARIANT=cpu

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/mira
WORKDIR /src
# Dependencies first, from the same pyproject and constraints as `make install` (without the dev extra),
# so that a code change rebuilds only the last layer.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && /opt/mira/bin/pip install -c constraints.txt -r /tmp/requirements.txt
COPY prompt.py ./
COPY shared ./shared
COPY services ./services
COPY cli ./cli
COPY review ./review
RUN /opt/mira/bin/pip install --no-deps -c constraints.txt . \
    && /opt/mira/bin/mira --help > /dev/null

FROM ${PYTHON_IMAGE} AS runtime-cpu
RUN groupadd --system --gid 10001 mira \
    && useradd --system --uid 10001 --gid mira --home-dir /home/mira --create-home --shell /usr/sbin/nologin mira
COPY --from=build /opt/mira /opt/mira
# MIRA_HOME under /tmp: the root filesystem is read-only in Kubernetes and /tmp is an emptyDir there.
ENV PATH=/opt/mira/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MIRA_HOME=/tmp/mira \
    MIRA_HEALTH_PORT=8080
WORKDIR /home/mira
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["mira"]
CMD ["--help"]

FROM runtime-cpu AS runtime-gpu
# Read by the NVIDIA container runtime: besides CUDA (compute), mount the driver's NVDEC library (video).
# Which GPUs are visible is left to the device plugin (the pod's nvidia.com/gpu request), never `all`.
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility,video

# runtime-${VARIANT} is one of the stages above, not a registry image, so it takes no tag.
# hadolint ignore=DL3006
FROM runtime-${VARIANT}
