"""The Dockerfile, checked without a Docker engine: its build stage replayed in a fresh venv.

The build stage's WORKDIR, COPY and RUN steps run here against a scratch folder standing in for
the image's root (so /src and /opt/venv land under it), then the image's ENTRYPOINT + CMD runs
from that venv with --help, and its HEALTHCHECK command runs against a live /healthz. It catches
what `docker build` would: a file the install needs but the COPY lines leave out, a dependency
missing from pyproject.toml, an entry point that does not start. Two liberties keep it lean:
pip's cache is used (the Dockerfile disables it to keep the image small), and the installed
modules are not byte-compiled (the image compiles them, so that the bot starts fast); it takes
about half a minute with a warm cache, most of it pip resolving and unpacking ccxt.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.metrics import Metrics
from bot.runtime.planning import value_snapshot
from bot.settings import Mode, load_settings
from bot.snapshot import load_snapshot

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)

    def last(self, instruction: str) -> str | None:
        found = [args for ins, args in self.steps if ins == instruction]
        return found[-1] if found else None


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions per stage, with line continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction, args = instruction.upper(), args.strip()
        if instruction == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        else:
            stages[-1].steps.append((instruction, args))
    return stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


def test_image_shape(stages: list[Stage]) -> None:
    """Pinned slim base, two stages, non-root, /data volume, health check, the daemon by default."""
    assert len(stages) == 2
    build, final = stages
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", stage.base), stage.base
    assert build.base == final.base
    assert build.name is not None
    assert any(ins == "COPY" and f"--from={build.name}" in args for ins, args in final.steps)
    user = final.last("USER")
    assert user is not None and user.split(":")[0] not in ("root", "0")
    assert final.last("VOLUME") == '["/data"]'
    assert exec_form(final.last("ENTRYPOINT") or "[]") == ["rebalance-bot"]
    assert exec_form(final.last("CMD") or "[]") == ["run", "--config", "/config/bot.toml"]
    assert "HEALTHCHECK_URL" in (final.last("HEALTHCHECK") or "")
    # No secret baked in: no key, secret or token set in the image.
    for _, args in build.steps + final.steps:
        assert not re.search(r"(API_KEY|SECRET|TOKEN|PASSWORD)\s*=", args, re.I), args


def test_shipped_docker_configs_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("REBALANCE_")]:
        monkeypatch.delenv(key)
    default = load_settings(ROOT / "config" / "docker.toml")
    assert default.exchange.mode is Mode.PAPER
    assert default.paper.balances
    assert default.journal.path == Path("/data/journal.sqlite")
    assert (default.metrics.enabled, default.metrics.host, default.metrics.port) == (
        True,
        "0.0.0.0",
        9108,
    )
    demo = load_settings(ROOT / "config" / "docker-demo.toml")
    assert demo.exchange.api_url == "http://sim:8080"
    assert str(demo.journal.path).startswith("/data/")
    compose = (ROOT / "docker-compose.yml").read_text()
    # The demo scenario the sim service serves is in the image (COPY config ./config in /app).
    assert "/app/config/scenarios/demo.toml" in compose
    assert (ROOT / "config" / "scenarios" / "demo.toml").is_file()
    assert "./config/docker-demo.toml" in compose
    env_example = (ROOT / ".env.example").read_text()
    assert "REBALANCE_EXCHANGE__API_KEY=" in env_example
    assert "REBALANCE_EXCHANGE__SECRET=" in env_example
    assert "# REBALANCE_EXCHANGE__API_KEY_FILE=/run/secrets/api_key" in env_example


@pytest.mark.slow
def test_build_stage_replays_and_the_image_command_starts(
    stages: list[Stage], tmp_path: Path
) -> None:
    build, final = stages
    image_root = tmp_path / "image"

    def host(path: str, cwd: Path) -> Path:
        return image_root / path.lstrip("/") if path.startswith("/") else cwd / path

    env = {k: v for k, v in os.environ.items() if k != "PIP_NO_CACHE_DIR"}
    env = {k: v for k, v in env.items() if not k.startswith(("REBALANCE_", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    cwd = image_root
    venv: Path | None = None
    for instruction, args in build.steps:
        if instruction == "WORKDIR":
            cwd = host(args, cwd)
            cwd.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, dest = shlex.split(args)
            assert not any(s.startswith("--") for s in sources), args
            target = host(dest, cwd)
            for source in sources:
                src = ROOT / source
                assert src.exists(), f"COPY {source}: not in the project"
                if src.is_dir():
                    shutil.copytree(
                        src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                    )
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target / src.name)
        elif instruction == "RUN":
            argv = shlex.split(args)
            if argv[:3] == ["python", "-m", "venv"]:
                venv = host(argv[3], cwd)
                command = [sys.executable, "-m", "venv", str(venv)]
            elif argv[0].endswith("/bin/pip") and argv[1] == "install":
                assert venv is not None and host(argv[0], cwd) == venv / "bin" / "pip", args
                rest = [a for a in argv[2:] if a != "--no-cache-dir"]
                assert "." in rest, "the image installs the project from its own metadata"
                command = [str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", *rest]
            else:
                pytest.fail(f"no replay for RUN {args!r}: teach this test the new step")
            done = subprocess.run(
                command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900
            )
            assert done.returncode == 0, f"RUN {args}\n{done.stdout}\n{done.stderr}"
        elif instruction not in ("ENV", "ARG", "LABEL"):
            pytest.fail(f"no replay for {instruction} {args!r} in the build stage")
    assert venv is not None, "the build stage makes no venv"
    assert not (venv / "bin" / "pytest").exists(), "dev extras do not belong in the image"

    # The image's command (ENTRYPOINT + CMD), from the venv the runtime stage copies, with --help.
    run_env = {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"}
    entry = exec_form(final.last("ENTRYPOINT") or "[]")
    command = [str(venv / "bin" / entry[0]), *entry[1:], *exec_form(final.last("CMD") or "[]")]
    shown = subprocess.run(
        [*command, "--help"], env=run_env, capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    assert "--config" in shown.stdout and "--until-balanced" in shown.stdout

    # The HEALTHCHECK command, with the venv's python, against a live /healthz: 0, then not 0.
    check = final.last("HEALTHCHECK") or ""
    probe = exec_form(check[check.index("CMD") + 3 :].strip())
    assert probe[0] == "python"
    now = [1000.0]
    metrics = Metrics(10.0, clock=lambda: now[0])
    port = metrics.start("127.0.0.1", 0)
    try:
        probe_env = {**run_env, "HEALTHCHECK_URL": f"http://127.0.0.1:{port}/healthz"}
        probe_cmd = [str(venv / "bin" / "python"), *probe[1:]]

        def healthy(env: dict[str, str] = probe_env) -> bool:
            out = subprocess.run(probe_cmd, env=env, capture_output=True, text=True, timeout=30)
            lines = (out.stdout + out.stderr).splitlines()
            assert len(lines) == 1 and "Traceback" not in lines[0], lines  # one line, always
            return out.returncode == 0

        settings = load_settings(ROOT / "config" / "demo.toml")
        snapshot = load_snapshot(ROOT / "config" / "snapshots" / "demo.json")
        metrics.observe_poll(
            value_snapshot(settings.portfolio_spec(), snapshot)
        )  # a poll, just now
        assert healthy()
        now[0] += 31  # three poll intervals and a second later
        assert not healthy()
        assert not healthy({**probe_env, "HEALTHCHECK_URL": "http://127.0.0.1:9/healthz"})
    finally:
        metrics.stop()
