"""Diagnosis on replies the rules never saw: leave-one-family-out over the reply corpus.

The corpus (tests/data/replies/, docs/reply-corpus.md) holds real server replies from many source
families (a provider or a server program). Each rule in rules.toml lists the entries it was
written for (`corpus = [...]`). To measure a family the rules were not written from, every rule
whose listed entries all come from that family is removed, and the family's replies are
classified by what is left; rules without listed entries (the stage and exception tiers) stay.

Prints accuracy in-sample (all rules) and leave-one-family-out, per family and per cause, the
confusion table (which cause was taken for which) and how often the answer is an honest
`unknown`. Run from the repository root: `python benchmarks/diagnosis_corpus.py`.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the corpus loader in tests/

from console.core.diagnosis.classify import diagnose
from console.core.diagnosis.rules import RuleTable, rule_table
from console.core.model import Cause
from tests.reply_corpus import Entry, load_corpus


def without_family(table: RuleTable, family: str, by_id: dict[str, Entry]) -> RuleTable:
    """The table as if nobody had seen `family`: rules written only from it are gone."""
    kept = tuple(
        rule
        for rule in table.rules
        if not rule.corpus
        or any(by_id[rid].family != family for rid in rule.corpus if rid in by_id)
    )
    return replace(table, rules=kept)


def run(entries: tuple[Entry, ...], *, leave_out: bool) -> list[tuple[Entry, Cause, str | None]]:
    table = rule_table()
    by_id = {entry.id: entry for entry in entries}
    tables = {
        entry.family: without_family(table, entry.family, by_id) if leave_out else table
        for entry in entries
    }
    results = []
    for entry in entries:
        found = diagnose(entry.failure(), entry.provider, tables[entry.family])
        results.append((entry, found.cause, found.rule))
    return results


def _share(right: int, total: int) -> str:
    return f"{100 * right / total:5.1f} % ({right}/{total})" if total else "-"


def report(results: list[tuple[Entry, Cause, str | None]], title: str, *, detail: bool) -> None:
    right = sum(found in entry.accepted for entry, found, _ in results)
    unknown = sum(found is Cause.UNKNOWN for _, found, _ in results)
    print(f"\n## {title}\n")
    print(f"accuracy: {_share(right, len(results))}; answered `unknown`: {unknown}")
    if not detail:
        return
    by_family: dict[str, list[bool]] = defaultdict(list)
    by_cause: dict[Cause, list[bool]] = defaultdict(list)
    for entry, found, _ in results:
        by_family[entry.family].append(found in entry.accepted)
        by_cause[entry.cause].append(found in entry.accepted)
    print("\n| family | kind | accuracy |\n|---|---|---|")
    kinds = {entry.family: entry.kind for entry, _, _ in results}
    for family, oks in sorted(by_family.items(), key=lambda kv: (sum(kv[1]) / len(kv[1]), kv[0])):
        print(f"| {family} | {kinds[family]} | {_share(sum(oks), len(oks))} |")
    macro = sum(sum(oks) / len(oks) for oks in by_family.values()) / len(by_family)
    print(f"\nmean over {len(by_family)} families: {100 * macro:.1f} %")
    print("\n| cause | accuracy |\n|---|---|")
    for cause, oks in sorted(by_cause.items(), key=lambda kv: kv[0].value):
        print(f"| {cause.value} | {_share(sum(oks), len(oks))} |")
    confusion = Counter(
        (entry.cause.value, found.value)
        for entry, found, _ in results
        if found not in entry.accepted
    )
    print("\nconfusion (expected -> found, count):\n")
    print("| expected | found | n |\n|---|---|---|")
    for (expected, found), n in confusion.most_common():
        print(f"| {expected} | {found} | {n} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list every wrong answer")
    args = parser.parse_args()
    entries = load_corpus()
    families = Counter(entry.family for entry in entries)
    print(
        f"# diagnosis on the reply corpus: {len(entries)} replies, {len(families)} families, "
        f"{len(rule_table().rules)} rules"
    )
    report(run(entries, leave_out=False), "in-sample (all rules)", detail=False)
    lofo = run(entries, leave_out=True)
    report(lofo, "leave-one-family-out", detail=True)
    if args.misses:
        print("\n## wrong answers, leave-one-family-out\n")
        for entry, found, rule in lofo:
            if found not in entry.accepted:
                print(
                    f"- {entry.id}: {entry.cause.value} -> {found.value} ({rule}): {entry.text!r}"
                )


if __name__ == "__main__":
    main()
