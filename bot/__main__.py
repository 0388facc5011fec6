"""Terminal use: `python -m bot "question"` prints one answer; with no question, a small chat;
`python -m bot gaps [--since DAYS]` reports what the content could not answer."""
import argparse
import sys

from . import BackCareError, Settings
from .safe_text import terminal_lines


def gaps_main(argv: list[str]) -> int:
    from dataclasses import replace
    from pathlib import Path

    from .gaps import FILE_NAME, GapLog, format_report

    parser = argparse.ArgumentParser(prog="python -m bot gaps",
                                     description="What the content could not answer: refused questions by topic, "
                                                 "disliked answers, red flags reported.")
    parser.add_argument("--since", type=float, default=None, metavar="DAYS", help="only the last DAYS days")
    parser.add_argument("--index", default=None, help="index folder whose gap log to read (default: the project's index/)")
    parser.add_argument("--top", type=int, default=20, help="how many topics and answers to list")
    args = parser.parse_args(argv)
    if args.since is not None and args.since <= 0:
        parser.error("--since takes a positive number of days")
    settings = Settings() if args.index is None else replace(Settings(), index_dir=Path(args.index))
    path = Path(settings.index_dir) / FILE_NAME
    if not path.exists():
        print(f"No gap log yet ({path}): nothing has been refused, rated or flagged.")
        return 0
    try:
        print(format_report(GapLog(path).report(args.since, top=args.top)))
    except Exception as e:  # noqa: BLE001 - a damaged log file is reported, not a traceback
        print(f"error: could not read the gap log {path}: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["gaps"]:
        return gaps_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bot", description="Ask the back-care bot from a terminal.")
    parser.add_argument("question", nargs="*", help="a question; leave out for an interactive chat")
    parser.add_argument("--rebuild", action="store_true", help="rebuild a missing or stale index first")
    parser.add_argument("--index", default=None, help="index folder (default: the project's index/)")
    parser.add_argument("--corpus", default=None, help="corpus folder (default: the one the index was built from)")
    parser.add_argument("--no-onnx", action="store_true", help="encode questions with sentence-transformers on torch")
    args = parser.parse_args(argv)
    try:
        from .build import fresh_bot

        settings = Settings().but(onnx=not args.no_onnx)
        bot = fresh_bot(index_dir=args.index, corpus_dir=args.corpus, settings=settings, rebuild=args.rebuild)
    except BackCareError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.question:
        print(terminal_lines(bot.ask(" ".join(args.question)).text))
        return 0
    print("Ask about back care and back exercises (an empty line or Ctrl-D quits).")
    history = []
    while True:
        try:
            question = input("\nyou> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not question:
            return 0
        answer = bot.ask(question, history=history)
        print("\n" + terminal_lines(answer.text))
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


if __name__ == "__main__":
    sys.exit(main())
