"""Terminal use: `python -m bot "question"` prints one answer; with no question, a small chat."""
import argparse
import sys

from . import BackCareBot, BackCareError, Settings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Ask the back-care bot from a terminal.")
    parser.add_argument("question", nargs="*", help="a question; leave out for an interactive chat")
    parser.add_argument("--rebuild", action="store_true", help="rebuild a missing or stale index first")
    parser.add_argument("--index", default=None, help="index folder (default: the project's index/)")
    parser.add_argument("--corpus", default=None, help="corpus folder (default: the one the index was built from)")
    parser.add_argument("--no-onnx", action="store_true", help="encode questions with sentence-transformers on torch")
    args = parser.parse_args(argv)
    try:
        settings = Settings(onnx_serving=not args.no_onnx)
        bot = BackCareBot.load(index_dir=args.index, corpus_dir=args.corpus, auto_rebuild=args.rebuild, settings=settings)
    except BackCareError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.question:
        print(bot.ask(" ".join(args.question)).text)
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
        print("\n" + answer.text)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


if __name__ == "__main__":
    sys.exit(main())
