"""The distribution as users get it: the sdist and the wheel built from it carry the right metadata and
every file the package needs, and the wheel installed in a fresh virtual environment (nothing of this
repository on the path) runs a minimal app's ``flask mail upgrade``, ``mail.send`` and ``mail worker``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from support.smtp import SMTPServer

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1]
SOURCE = PROJECT / "src" / "flask_mailroom"
# What the wheel must carry of the source tree: code, templates, scripts, catalogues, the typing marker.
SHIPPED = ("*.py", "*.html", "*.js", "*.mo", "*.mako", "*.typed")
REQUIRED = {"flask", "sqlalchemy", "alembic", "flask-mail"}
# The fresh environment gets the wheel and these only (its own dependencies come from PyPI).
EXTRA_INSTALLS = ("Flask-SQLAlchemy", "aiosmtpd")
# What a fresh checkout would not have (.gitignore'd): bytecode, earlier builds, tools' caches.
UNTRACKED = ("__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".*_cache")
# Variables that could let the fresh environment see this repository or its settings.
LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "FLASK_", "MAIL_", "MAILROOM_")

MINIMAL_APP = '''\
"""A minimal Flask app on Flask-Mailroom, as its README starts one."""

import os

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_mailroom import Mail, Message

app = Flask(__name__)
app.config.update(SQLALCHEMY_DATABASE_URI=os.environ["DATABASE_URL"], MAIL_SERVER="127.0.0.1",
                  MAIL_PORT=int(os.environ["SMTP_PORT"]), MAIL_DEFAULT_SENDER="Minimal <noreply@example.com>")
db = SQLAlchemy(app)
mail = Mail(app)


@app.post("/hello")
def hello():
    mail.send(Message("Hello from the wheel", recipients=["ann@example.com"], body="Installed, not linked."))
    return "queued"
'''

SEND = '''\
import flask_mailroom
from minimal import app

answer = app.test_client().post("/hello")
print(answer.status_code, answer.get_data(as_text=True))
print(flask_mailroom.__file__)
'''


@dataclass(frozen=True)
class Built:
    """The sdist and the wheel ``python -m build`` made (the wheel from the sdist)."""

    sdist: Path
    wheel: Path

    def wheel_names(self) -> set[str]:
        """Every file in the wheel."""
        with zipfile.ZipFile(self.wheel) as archive:
            return set(archive.namelist())

    def sdist_names(self) -> set[str]:
        """Every file in the sdist, relative to its top folder."""
        with tarfile.open(self.sdist) as archive:
            return {name.partition("/")[2] for name in archive.getnames()}

    def metadata(self) -> Message:
        """The wheel's METADATA."""
        with zipfile.ZipFile(self.wheel) as archive:
            [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
            return HeaderParser().parsestr(archive.read(name).decode("utf-8"))


def project() -> dict[str, object]:
    """The [project] table of flask-mailroom/pyproject.toml."""
    table: dict[str, object] = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    return table


def source_files() -> set[str]:
    """The package's files that must ship, as wheel paths (``flask_mailroom/...``)."""
    found = {path for pattern in SHIPPED for path in SOURCE.rglob(pattern) if "__pycache__" not in path.parts}
    return {"flask_mailroom/" + path.relative_to(SOURCE).as_posix() for path in found}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything pointing at the repository, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY)}
    env.update({"PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", **extra})
    return env


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    """Run a command to completion; its output (the test fails with it when the command does)."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(argv)} exited with {done.returncode}:\n{output}"
    return output


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """``python -m build`` of flask-mailroom/ as a fresh checkout has it (no bytecode, no egg-info left
    by earlier builds, nothing written into the shared tree): the sdist, then the wheel from the sdist."""
    checkout = tmp_path_factory.mktemp("checkout") / "flask-mailroom"
    shutil.copytree(PROJECT, checkout, ignore=shutil.ignore_patterns(*UNTRACKED))
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(checkout)], out, clean_env())
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return Built(sdist, wheel)


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel, Flask-SQLAlchemy and aiosmtpd; its bin folder."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    run([sys.executable, "-m", "venv", str(venv)], venv.parent, clean_env())
    bin_dir = venv / "bin"
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         str(built.wheel), *EXTRA_INSTALLS], venv.parent, clean_env())
    return bin_dir


def test_the_metadata_names_the_distribution_its_version_and_license(built: Built) -> None:
    metadata = built.metadata()
    info = project()
    assert metadata["Name"] == "Flask-Mailroom"
    assert metadata["Version"] == info["version"]
    assert built.wheel.name == f"flask_mailroom-{info['version']}-py3-none-any.whl"
    assert built.sdist.name == f"flask_mailroom-{info['version']}.tar.gz"
    assert metadata["License-Expression"] == info["license"] == "BSD-3-Clause"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Requires-Python"] == info["requires-python"]
    assert "Typing :: Typed" in (metadata.get_all("Classifier") or [])


def test_the_only_unconditional_requirements_are_flask_sqlalchemy_alembic_and_flask_mail(
        built: Built) -> None:
    requirements = [Requirement(line) for line in built.metadata().get_all("Requires-Dist") or []]
    always = {r.name.lower() for r in requirements if r.marker is None}
    assert always == REQUIRED
    optional = [r for r in requirements if r.marker is not None]
    assert optional, "the extras are declared"
    assert all("extra ==" in str(r.marker) for r in optional), [str(r) for r in optional]
    extras = set(built.metadata().get_all("Provides-Extra") or [])
    assert {"redis", "postgresql", "babel", "catcher", "dns", "ses", "metrics", "all", "test"} <= extras


def test_the_wheel_carries_every_file_the_package_needs(built: Built) -> None:
    names = built.wheel_names()
    expected = {"flask_mailroom/py.typed", "flask_mailroom/devmail/static/devmail.js",
                "flask_mailroom/migrations/env.py", "flask_mailroom/migrations/script.py.mako"}
    assert expected <= names
    assert [n for n in names if n.startswith("flask_mailroom/devmail/templates/") and n.endswith(".html")]
    assert [n for n in names if n.startswith("flask_mailroom/migrations/versions/") and n.endswith(".py")]
    if (SOURCE / "translations").is_dir():
        compiled = {n for n in names if n.startswith("flask_mailroom/translations/") and n.endswith(".mo")}
        assert compiled, "the compiled catalogues ship"
    missing = source_files() - names
    assert not missing, f"in src/flask_mailroom but not in the wheel: {sorted(missing)}"


def test_neither_archive_carries_bytecode_or_the_repositorys_app(built: Built) -> None:
    for names in (built.wheel_names(), built.sdist_names()):
        assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
        assert not [n for n in names if n.startswith(("mailroom/", "src/mailroom/"))]
    assert {n.split("/")[0] for n in built.wheel_names()} == {
        "flask_mailroom", f"flask_mailroom-{project()['version']}.dist-info"}


def test_the_sdist_holds_the_sources_the_wheel_is_built_from(built: Built) -> None:
    names = built.sdist_names()
    assert {"pyproject.toml", "README.md", "LICENSE", "PKG-INFO"} <= names
    missing = {"src/" + name for name in source_files()} - names
    assert not missing, f"not in the sdist: {sorted(missing)}"


@pytest.fixture
def app_folder(tmp_path: Path) -> Path:
    """A folder holding only the minimal app (and later its SQLite database)."""
    (tmp_path / "minimal.py").write_text(MINIMAL_APP)
    return tmp_path


def test_the_installed_wheel_runs_a_minimal_app_end_to_end(
        installed: Path, app_folder: Path, smtp: SMTPServer) -> None:
    env = clean_env(PATH=f"{installed}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
                    DATABASE_URL=f"sqlite:///{app_folder / 'minimal.sqlite3'}", SMTP_PORT=str(smtp.port))
    flask = str(installed / "flask")
    assert "mail tables upgraded from nothing to" in run([flask, "--app", "minimal", "mail", "upgrade"],
                                                         app_folder, env)
    status, location = run([str(installed / "python"), "-c", SEND], app_folder, env).splitlines()[:2]
    assert status == "200 queued"
    assert Path(location).is_relative_to(installed.parent), "the package comes from the fresh environment"
    assert smtp.messages == [], "stored, not sent, until a worker runs"
    burst = run([flask, "--app", "minimal", "mail", "worker", "--burst"], app_folder, env)
    assert "handled 1 message(s): 1 sent" in burst, burst
    [received] = smtp.wait_for(1)
    assert received.rcpt_tos == ["ann@example.com"]
    assert received.message["Subject"] == "Hello from the wheel"
    assert received.text().strip() == "Installed, not linked."
    run([str(installed / "python"), "-m", "pip", "check", "--disable-pip-version-check"], app_folder, env)

