"""A generated text corpus, the stand-in for what language-model programs download (WikiText-2,
tiny-shakespeare). Benchmark-only: it is put on PYTHONPATH for benchmark runs, never imported by
faultlens.

The text comes from a small probabilistic grammar (determiners, adjectives, nouns, verbs,
prepositional phrases, a few sentence shapes) over a vocabulary of a few hundred words, so it has
real structure a language model can learn: word and character perplexity fall well below the
uniform baseline within a few hundred steps. ``style="dialogue"`` writes speaker-headed blocks in the
layout of tiny-shakespeare; ``style="words"`` writes one paragraph a line, WikiText-style, with
section headings.
"""
from __future__ import annotations

import random
from pathlib import Path

_SYL = ["ka", "lo", "mi", "ra", "te", "su", "ven", "dor", "pha", "gil", "mon", "tes", "ar", "is", "ul", "en",
        "bri", "cal", "dun", "fer", "hal", "jor", "kel", "mar", "nor", "pel", "qua", "ros", "sil", "tor"]


def _words(rng: random.Random, n: int, syl: tuple[int, int]) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(_SYL) for _ in range(rng.randint(*syl))))
    return sorted(out)


class _Grammar:
    def __init__(self, seed: int = 1234) -> None:
        rng = random.Random(seed)
        self.det = ["the", "a", "this", "that", "every", "some"]
        self.prep = ["in", "on", "under", "near", "with", "from", "over", "behind"]
        self.conj = ["and", "but", "so", "while", "because"]
        self.noun = _words(rng, 160, (1, 3))
        self.adj = _words(rng, 60, (2, 3))
        self.verb = _words(rng, 90, (1, 2))
        self.name = [w.capitalize() for w in _words(rng, 30, (2, 3))]
        # Zipf-like preferences, and verbs that prefer some objects: learnable co-occurrence
        self.obj_of = {v: rng.sample(self.noun, 12) for v in self.verb}
        self.adj_of = {n: rng.sample(self.adj, 5) for n in self.noun}

    def _pick(self, rng: random.Random, xs: list[str]) -> str:
        return xs[min(int(rng.paretovariate(1.2)) - 1, len(xs) - 1)] if rng.random() < 0.7 else rng.choice(xs)

    def np(self, rng: random.Random, pool: list[str] | None = None) -> list[str]:
        n = self._pick(rng, pool or self.noun)
        out = [rng.choice(self.det)]
        if rng.random() < 0.4:
            out.append(rng.choice(self.adj_of[n]))
        out.append(n)
        if rng.random() < 0.2:
            out += [rng.choice(self.prep)] + self.np(rng)
        return out

    def sentence(self, rng: random.Random) -> str:
        subj = [rng.choice(self.name)] if rng.random() < 0.3 else self.np(rng)
        v = self._pick(rng, self.verb)
        words = subj + [v + ("s" if rng.random() < 0.5 else "ed")] + self.np(rng, self.obj_of[v])
        if rng.random() < 0.3:
            v2 = self._pick(rng, self.verb)
            words += [rng.choice(self.conj), rng.choice(["it", "they", "we"]), v2] + self.np(rng, self.obj_of[v2])
        words[0] = words[0].capitalize()
        return " ".join(words) + rng.choice([".", ".", ".", "!", "?"])


def corpus_lines(lines: int, seed: int = 0, style: str = "words") -> list[str]:
    """``lines`` lines of generated text; the grammar is the same for every seed (so train and
    validation files share a vocabulary), the sampled sentences differ."""
    g = _Grammar()
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < lines:
        if style == "dialogue":
            out.append(rng.choice(g.name).upper() + ":")
            out += [g.sentence(rng) for _ in range(rng.randint(1, 4))]
            out.append("")
        else:
            if rng.random() < 0.05:
                out += ["", f" = {rng.choice(g.name)} {rng.choice(g.noun)} = ", ""]
            out.append(" " + " ".join(g.sentence(rng) for _ in range(rng.randint(2, 6))) + " ")
    return out[:lines]


def write_corpus(path: str | Path, lines: int = 2000, seed: int = 0, style: str = "words") -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\n".join(corpus_lines(lines, seed, style)) + "\n", encoding="utf-8")
    return p
