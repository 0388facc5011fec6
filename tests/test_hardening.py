"""Faults an operator meets: every build failure is an `error:` line with exit 2 and the old index
kept; careful corpus intake; the page's index watcher survives whatever happens."""
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot import BackCareBot, CorpusError, IndexCorruptError, store
from bot.build import build_index, fresh_bot
from bot.settings import Settings
from conftest import CORPUS, PROJECT, free_port

QUIET = {"progress": False, "log": lambda *_: None}


@pytest.fixture
def project(tmp_path) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "back-exercises.txt", corpus / "back-exercises.txt")
    s = replace(Settings(), corpus_dir=corpus, index_dir=tmp_path / "index")
    build_index(s, **QUIET)
    return s


def run_build(s: Settings, *extra, preexec=None, drop_caps=False):
    cmd = [sys.executable, "build_index.py", "--corpus", str(s.corpus_dir), "--index", str(s.index_dir), *extra]
    if drop_caps:  # root ignores file modes; without its capabilities it meets them like anyone else
        cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"] + cmd
    return subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=300)


def assert_clean_error(result, *words):
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is needed to drop root's capabilities")
def test_read_only_index_folder_is_an_error_line_and_the_index_stays(project):
    before = store.current_build(project.index_dir)
    (project.corpus_dir / "walking.md").write_text("# Walking\n\nBrisk walking helps the back.\n", encoding="utf-8")
    modes = {p: p.stat().st_mode for p in [project.index_dir, *project.index_dir.rglob("*")]}
    for path in modes:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        result = run_build(project, drop_caps=True)
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert_clean_error(result, "no permission", str(project.index_dir))
    assert store.current_build(project.index_dir) == before


def test_garbled_pointer_is_reported_and_a_build_recovers(project):
    (project.index_dir / store.POINTER).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(IndexCorruptError, match="--force"):
        BackCareBot.load(index_dir=project.index_dir, corpus_dir=project.corpus_dir)
    result = run_build(project, "--force")
    assert result.returncode == 0, result.stderr
    assert BackCareBot.load(index_dir=project.index_dir, corpus_dir=project.corpus_dir).ask("How do I avoid slouching?").in_scope


def test_unfinished_build_folders_are_removed_by_the_next_build(project):
    leftover = project.index_dir / "builds" / ".tmp-deadbeef0000"
    leftover.mkdir()
    (leftover / "dense.faiss").write_bytes(b"\0" * 1024)
    (project.corpus_dir / "walking.md").write_text("# Walking\n\nBrisk walking helps the back.\n", encoding="utf-8")
    assert run_build(project).returncode == 0
    assert not leftover.exists()


def test_file_name_that_is_not_utf8_is_an_error_line_naming_it(project):
    name = os.fsdecode(b"bad-\xff-name.txt")
    (project.corpus_dir / name).write_text("Title\nWalking helps.\n", encoding="utf-8")
    assert_clean_error(run_build(project), "not valid UTF-8", "rename it")


def test_binary_file_with_nul_bytes_is_refused_by_name(project):
    (project.corpus_dir / "archive.txt").write_bytes(b"ustar\x00\x00\x00" + b"back pain\n" * 20)
    assert_clean_error(run_build(project), "archive.txt", "NUL")
    with pytest.raises(CorpusError):
        fresh_bot(index_dir=project.index_dir, corpus_dir=project.corpus_dir, rebuild=True)
    bot = fresh_bot(index_dir=project.index_dir, corpus_dir=project.corpus_dir, rebuild=True, allow_stale=True)
    assert bot.ask("How do I avoid slouching?").in_scope  # the last good build serves


def test_empty_file_is_skipped_with_a_warning_and_not_counted(project):
    (project.corpus_dir / "empty.md").write_text("---\ntitle: Nothing yet\n---\n\n", encoding="utf-8")
    lines = []
    report = build_index(project, progress=False, log=lines.append)
    assert report.documents == 1
    assert any("empty.md" in line and "no text" in line for line in lines)


def test_identical_passages_are_stored_and_cited_once(project):
    shutil.copy(project.corpus_dir / "back-exercises.txt", project.corpus_dir / "copy.txt")
    report = build_index(project, **QUIET)
    assert report.chunks == 10
    answer = BackCareBot.load(index_dir=project.index_dir, corpus_dir=project.corpus_dir).ask("How do I avoid slouching?")
    texts = [c.text for c in answer.citations]
    assert len(texts) == len(set(texts))


def test_symlinks_inside_are_followed_outside_and_loops_are_skipped_with_warnings(project, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("Secret\nNot part of the corpus.\n", encoding="utf-8")
    (project.corpus_dir / "sub").mkdir()
    (project.corpus_dir / "sub" / "walking.md").write_text("# Walking\n\nBrisk walking helps.\n", encoding="utf-8")
    (project.corpus_dir / "walking-link.md").symlink_to(project.corpus_dir / "sub" / "walking.md")
    (project.corpus_dir / "secret.txt").symlink_to(outside / "secret.txt")
    (project.corpus_dir / "elsewhere").symlink_to(outside, target_is_directory=True)
    (project.corpus_dir / "sub" / "loop").symlink_to(project.corpus_dir, target_is_directory=True)
    lines = []
    report = build_index(project, progress=False, log=lines.append)
    assert report.documents == 3  # back-exercises.txt, sub/walking.md and the link to it (kept once as passages)
    said = "\n".join(lines)
    assert "secret.txt: a link to a file outside the corpus" in said
    assert "elsewhere/: a link to a folder outside the corpus" in said
    assert "sub/loop/: a link that loops back" in said


def test_file_over_the_size_limit_stops_the_build_with_a_clear_message(project):
    (project.corpus_dir / "huge.txt").write_text("Huge\n" + "Walking helps the back. " * 2000, encoding="utf-8")
    with pytest.raises(CorpusError, match="huge.txt is .* over the .* limit"):
        build_index(project.but(max_file_bytes=10_000), **QUIET)


def test_interrupted_build_resumes_from_its_checkpoints(project, monkeypatch):
    (project.corpus_dir / "many.txt").write_text(
        "Many\n" + "\n".join(f"Exercise number {i} strengthens muscle group {i * 7}." for i in range(300)),
        encoding="utf-8")
    small = project.but(checkpoint_sentences=64)

    def stopped(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr("bot.build.write_dense_index", stopped)
    with pytest.raises(KeyboardInterrupt):
        build_index(small, **QUIET)
    monkeypatch.undo()
    report = build_index(small, **QUIET)
    assert report.sentences_embedded < 64  # everything was kept but the calibration texts
    assert not (project.index_dir / store.CHECKPOINTS).exists()


# ---- the page ------------------------------------------------------------------------------------
def test_watcher_survives_any_error_logs_it_once_and_reports_it(project, monkeypatch, capsys):
    import errno
    import time

    from ui.app import IndexWatcher

    bot = BackCareBot.load(index_dir=project.index_dir, corpus_dir=project.corpus_dir)
    watcher = IndexWatcher(bot, every=0.05)

    def no_handles(*_):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(store, "current_build", no_handles)
    watcher.start()
    for _ in range(100):
        if watcher.errors >= 5:
            break
        time.sleep(0.05)
    assert watcher.thread.is_alive() and watcher.errors >= 5
    assert "Too many open files" in watcher.health()["watcher_last_error"]
    assert capsys.readouterr().out.count("Too many open files") == 1  # once a minute at most
    monkeypatch.undo()
    (project.corpus_dir / "walking.md").write_text("# Walking\n\nBrisk walking helps the back.\n", encoding="utf-8")
    build_index(project, **QUIET)
    for _ in range(100):
        if watcher.health()["watcher_last_error"] == "" and bot.build_name == store.current_build(project.index_dir).name:
            break
        time.sleep(0.05)
    assert bot.build_name == store.current_build(project.index_dir).name
    watcher.stop()


def test_page_starts_on_the_last_good_build_when_the_stale_index_cannot_be_rebuilt(project):
    from filelock import FileLock

    (project.corpus_dir / "walking.md").write_text("# Walking\n\nBrisk walking helps the back.\n", encoding="utf-8")
    with FileLock(str(project.index_dir / store.LOCK)):  # a sibling replica is building
        from ui.app import load_bot

        bot = load_bot(index_dir=project.index_dir, corpus_dir=project.corpus_dir, wait_seconds=0)
    assert bot.ask("How do I avoid slouching?").in_scope


def test_replicas_started_together_on_a_stale_index_all_come_up(project):
    import time
    import urllib.request

    (project.corpus_dir / "walking.md").write_text("# Walking\n\nBrisk walking helps the back.\n", encoding="utf-8")
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, "-m", "ui", "--port", str(port), "--index", str(project.index_dir),
                               "--corpus", str(project.corpus_dir)], cwd=PROJECT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
    try:
        up = set()
        deadline = time.monotonic() + 180
        while len(up) < 2 and time.monotonic() < deadline:
            for port in ports:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                        if r.status == 200:
                            up.add(port)
                except OSError:
                    pass
            time.sleep(0.5)
        assert up == set(ports)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def test_corpus_over_the_build_limit_stops_with_a_clear_message(project):
    with pytest.raises(CorpusError, match="over the .* limit for one build"):
        build_index(project.but(max_corpus_bytes=1_000), force=True, **QUIET)


def test_disk_full_inside_faiss_is_an_error_line_not_a_traceback(project, monkeypatch):
    from bot import BuildError

    (project.corpus_dir / "walking.md").write_text("# Walking\n\nBrisk walking helps the back.\n", encoding="utf-8")

    def full(*_):
        raise RuntimeError("Error in faiss::FileIOWriter: fwrite failed: No space left on device")

    monkeypatch.setattr("bot.store.write_dense", full)
    with pytest.raises(BuildError, match="the disk is full"):
        build_index(project, **QUIET)
    assert not [p for p in (project.index_dir / "builds").iterdir() if p.name.startswith(".tmp-")]
