"""The gap log: what the content could not answer, recorded by the real bot, safe under concurrent
writers, harmless when it cannot be written, and reported by `python -m bot gaps`."""
import json
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace

from bot import BackCareBot
from bot.gaps import FILE_NAME, GapLog
from conftest import PROJECT


def _events(index_dir):
    with sqlite3.connect(index_dir / FILE_NAME) as con:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute("SELECT * FROM events ORDER BY id")]


def test_refusals_urgent_triggers_and_dislikes_are_recorded_without_visitor_data(settings):
    bot = BackCareBot.load(index_dir=settings.index_dir, corpus_dir=settings.corpus_dir)
    before = len(_events(settings.index_dir)) if (settings.index_dir / FILE_NAME).exists() else 0
    refused = bot.ask("Can glaucoma be treated with eye drops?")
    urgent = bot.ask("My back hurts and since this morning I can't control my bladder")
    answered = bot.ask("How can I prevent slouching?")
    assert refused.kind == "refusal" and urgent.urgent and answered.citations
    assert bot.feedback("How can I prevent slouching?", False, [c.chunk_id for c in answered.citations])
    assert bot.feedback("How can I prevent slouching?", True, [c.chunk_id for c in answered.citations])

    rows = _events(settings.index_dir)[before:]
    assert [r["kind"] for r in rows] == ["refused", "urgent", "disliked", "liked"]
    assert "glaucoma" in rows[0]["topic"].split()
    assert rows[0]["question"] == "Can glaucoma be treated with eye drops?"
    assert json.loads(rows[1]["red_flags"]) == ["loss of bladder or bowel control"]
    assert json.loads(rows[2]["chunk_ids"]) == [c.chunk_id for c in answered.citations]
    # The question and time only: no column could hold an address or a browser.
    assert set(rows[0]) == {"id", "at", "kind", "question", "topic", "chunk_ids", "red_flags"}
    with sqlite3.connect(settings.index_dir / FILE_NAME) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_message_that_speaks_of_self_harm_is_not_kept(settings):
    bot = BackCareBot.load(index_dir=settings.index_dir, corpus_dir=settings.corpus_dir)
    bot.ask("What is a hard refusal word like zzqx?")  # makes sure the file exists
    before = len(_events(settings.index_dir))
    refused = bot.ask("some days i wish i wasn't here anymore, who can i talk to")
    urgent = bot.ask("numb between my legs and peeing myself, I dont want to live like this")
    assert refused.crisis and not refused.in_scope and urgent.crisis and urgent.urgent
    assert len(_events(settings.index_dir)) == before


def test_answers_are_not_recorded(settings):
    bot = BackCareBot.load(index_dir=settings.index_dir, corpus_dir=settings.corpus_dir)
    bot.ask("What is a hard refusal word like zzqx?")  # makes sure the file exists
    before = len(_events(settings.index_dir))
    bot.ask("Why do strong thighs help when lifting?")
    bot.ask("hello")
    assert len(_events(settings.index_dir)) == before


def test_one_setting_turns_the_log_off(settings, tmp_path):
    off = settings.but(gap_log=False)
    bot = BackCareBot.load(settings=off)
    (settings.index_dir / FILE_NAME).unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (settings.index_dir / (FILE_NAME + suffix)).unlink(missing_ok=True)
    assert bot.ask("Can glaucoma be treated?").kind == "refusal"
    assert bot.feedback("Can glaucoma be treated?", False) is False
    assert not (settings.index_dir / FILE_NAME).exists()


def test_a_log_that_cannot_be_written_never_fails_an_answer(settings, tmp_path, caplog):
    bot = BackCareBot.load(index_dir=settings.index_dir, corpus_dir=settings.corpus_dir)
    blocked = tmp_path / "not-a-database"
    blocked.mkdir()  # a folder where the file should be: every write fails
    bot.gaps = GapLog(blocked)
    for _ in range(3):
        answer = bot.ask("Can glaucoma be treated?")
        assert answer.kind == "refusal" and "glaucoma" in answer.text
    assert bot.feedback("Can glaucoma be treated?", False) is False
    warnings = [r for r in caplog.records if "gap log" in r.getMessage()]
    assert len(warnings) == 1  # said once, not for every answer


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / FILE_NAME
    threads_each, threads = 50, 8
    log = GapLog(path)

    def write(k):
        for i in range(threads_each):
            assert log.record("refused", f"thread {k} question {i}", ("topic",))

    workers = [threading.Thread(target=write, args=(k,)) for k in range(threads)]
    code = (
        "import sys; from pathlib import Path; from bot.gaps import GapLog\n"
        "log = GapLog(Path(sys.argv[1]))\n"
        "assert all(log.record('disliked', f'process question {i}', ('x',), ('c1',)) for i in range(100))\n"
    )
    processes = [subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=PROJECT) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert [p.wait(timeout=120) for p in processes] == [0, 0, 0]
    events = GapLog(path).events()
    assert len(events) == threads * threads_each + 300
    assert len({e["question"] for e in events if e["kind"] == "refused"}) == threads * threads_each


def test_report_groups_unanswered_questions_by_their_salient_words(tmp_path):
    log = GapLog(tmp_path / FILE_NAME)
    for q, topic in [("Is glaucoma hereditary?", ("glaucoma",)), ("Can glaucoma be cured?", ("glaucoma",)),
                     ("Does glaucoma hurt?", ("glaucoma",)), ("Are tonsils needed?", ("tonsils",)),
                     ("Should tonsil stones worry me?", ("tonsil", "stones"))]:
        log.record("refused", q, topic)
    log.record("disliked", "How do I lift?", ("lift",), ("doc#p1", "doc#p2"))
    log.record("disliked", "Lifting a child?", ("lifting",), ("doc#p1", "doc#p2"))
    log.record("urgent", "I can't feel my legs", red_flags=("leg weakness",))
    report = log.report()
    assert report.refused == 5
    assert [(t.word, t.count) for t in report.topics[:2]] == [("glaucoma", 3), ("tonsils", 2)]  # one stem, two forms
    assert report.topics[0].questions[0] == "Does glaucoma hurt?"  # the most recent first
    assert [(r.chunk_ids, r.count) for r in report.disliked] == [(("doc#p1", "doc#p2"), 2)]
    assert report.urgent == [("leg weakness", 1)]


def test_gaps_command_prints_the_report_and_honours_since(settings):
    bot = BackCareBot.load(index_dir=settings.index_dir, corpus_dir=settings.corpus_dir)
    bot.ask("Is ringworm contagious?")
    run = lambda *a: subprocess.run([sys.executable, "-m", "bot", "gaps", "--index", str(settings.index_dir), *a],  # noqa: E731
                                    cwd=PROJECT, capture_output=True, text=True)
    out = run()
    assert out.returncode == 0 and "ringworm" in out.stdout and "Is ringworm contagious?" in out.stdout
    old = run("--since", "0.00000001")  # about a millisecond: nothing that recent
    assert old.returncode == 0 and "ringworm" not in old.stdout
    bad = run("--since", "-3")
    assert bad.returncode == 2 and "positive" in bad.stderr
    damaged = settings.index_dir.parent / "damaged"
    damaged.mkdir(exist_ok=True)
    (damaged / FILE_NAME).write_bytes(b"not a database at all" * 100)
    broken = subprocess.run([sys.executable, "-m", "bot", "gaps", "--index", str(damaged)], cwd=PROJECT,
                            capture_output=True, text=True)
    assert broken.returncode == 2 and "error:" in broken.stderr and "Traceback" not in broken.stderr
