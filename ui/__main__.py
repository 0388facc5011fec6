"""python -m ui [--host 127.0.0.1] [--port 7860] [--index DIR --corpus DIR] [--emergency-number 999]
[--asks-per-minute 120]: serve the chat page."""
import argparse
import os
import sys

from bot import BackCareError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui", description="Serve the back-care chat page.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--index", default=None, help="index folder (default: the project's index/)")
    parser.add_argument("--corpus", default=None, help="corpus folder (default: the one the index was built from)")
    parser.add_argument("--no-onnx", action="store_true", help="encode questions with sentence-transformers on torch")
    parser.add_argument("--no-gap-log", action="store_true", help="keep no log of unanswered questions and ratings")
    parser.add_argument("--keep-days", type=float, default=90.0, metavar="DAYS",
                        help="forget gap-log events older than DAYS days (default 90)")
    parser.add_argument("--emergency-number", default=None, metavar="NUMBER",
                        help='the number urgent replies tell people to call, e.g. 999, 911 or 112 '
                             '(default: "your local emergency number")')
    parser.add_argument("--asks-per-minute", type=int, default=None, metavar="N",
                        help="questions one client address may ask on /api/ask in any minute (default 120)")
    args = parser.parse_args(argv)
    if args.asks_per_minute is not None and args.asks_per_minute <= 0:
        parser.error("--asks-per-minute takes a positive whole number")
    if args.keep_days <= 0:
        parser.error("--keep-days takes a positive number of days")
    if args.emergency_number is not None and not (0 < len(args.emergency_number.strip()) <= 40):
        parser.error("--emergency-number takes a number or a short name, such as 999")
    from .app import launch

    try:
        launch(args.host, args.port, index_dir=args.index, corpus_dir=args.corpus, onnx=not args.no_onnx,
               gap_log=not args.no_gap_log, keep_days=args.keep_days,
               emergency_number=args.emergency_number, asks_per_minute=args.asks_per_minute)
    except BackCareError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
