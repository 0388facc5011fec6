"""Shared fixtures: the real corpus built once per session into a temporary index, with the real model."""
import shutil
from contextlib import contextmanager
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot import BackCareBot
from bot.build import build_index
from bot.settings import Settings
from ui.serving import wait_for_health

PROJECT = Path(__file__).resolve().parent.parent
CORPUS = PROJECT / "corpus"


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    """The project's corpus and an index of its own, so tests never touch index/."""
    root = tmp_path_factory.mktemp("project")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    s = replace(Settings(), corpus_dir=corpus, index_dir=root / "index")
    build_index(s, progress=False, log=lambda *_: None)
    return s


@pytest.fixture(scope="session")
def bot(settings) -> BackCareBot:
    return BackCareBot.load(index_dir=settings.index_dir, corpus_dir=settings.corpus_dir)


@pytest.fixture
def small_corpus(tmp_path) -> Settings:
    """A two-document corpus in a temporary folder, for rebuild tests that change files."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "back-exercises.txt", corpus / "back-exercises.txt")
    (corpus / "walking.md").write_text(
        "# Walking for a healthy back\n\n"
        "Brisk walking is a gentle aerobic exercise. It strengthens the legs and the core.\n\n"
        "Start with ten minutes a day, e.g. after lunch. Add a few minutes each week.\n",
        encoding="utf-8",
    )
    return replace(Settings(), corpus_dir=corpus, index_dir=tmp_path / "index")


def as_an_older_build(settings: Settings, format_version: int, *removed: str) -> None:
    """The live build as an older version wrote it: without these files, its manifest saying so."""
    import json

    from bot import store

    folder = store.current_build(settings.index_dir)
    for name in removed:
        (folder / name).unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(format=format_version, index_files=store.file_checksums(folder))
    (folder / "manifest.json").write_text(json.dumps(manifest))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, for a page started by a test."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_page(s: Settings, *extra: str):
    """The real page process (`python -m ui`) on 127.0.0.1 for an index, once its health route answers;
    its output goes to a file (`proc.log`), read with `proc.log.read_text()`."""
    import tempfile

    port = free_port()
    log = Path(tempfile.mkstemp(prefix="page-", suffix=".log")[1])
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ui", "--port", str(port), "--index", str(s.index_dir),
                                 "--corpus", str(s.corpus_dir), *extra], cwd=PROJECT,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    proc.log = log
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url)
        yield proc, url, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        log.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def page(settings):
    """The real page process (`python -m ui`) on 127.0.0.1, once its health route answers."""
    with running_page(settings) as running:
        yield running
