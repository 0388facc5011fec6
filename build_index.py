"""Rebuilds the index from corpus/: python build_index.py [--corpus DIR] [--index DIR] [--force]"""
import argparse
import sys
from dataclasses import replace
from pathlib import Path

from bot.build import build_index
from bot.errors import BackCareError
from bot.settings import Settings


def main(argv=None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(description="Build or update the back-care index from the corpus folder.")
    parser.add_argument("--corpus", type=Path, default=defaults.corpus_dir, help="folder of .txt/.md documents")
    parser.add_argument("--index", type=Path, default=defaults.index_dir, help="folder the index is written to")
    parser.add_argument("--force", action="store_true", help="re-embed everything, ignoring the cache")
    parser.add_argument("--model", default=None, help="sentence-transformers model path or name")
    args = parser.parse_args(argv)
    settings = replace(defaults, corpus_dir=args.corpus, index_dir=args.index, model=args.model)
    try:
        report = build_index(settings, force=args.force)
    except BackCareError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
