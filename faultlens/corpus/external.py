"""The external manifest of real public programs, and its materialisation from local clones.

A manifest (the external benchmark's is ``benchmarks/external/manifest.json``, docs/external-benchmark.md)
names real public programs by repository, commit and path, with the arguments that keep a run short
on CPU, the score the program prints and, per faulty case, one edit as old/new text with the
expected fault types and lines. This module turns it into runnable folders from local clones:

    sources/<name>/     one folder per repository, as ``git clone`` makes it (``examples``,
                        ``pytorch-beginner``, ...); when it is a git checkout the files are read
                        at the manifest's commit (``git show COMMIT:PATH``), otherwise from disk
    workdir/<slug>/     one folder per case: the program's files, the edit applied, stand-in data

The offline data stand-ins (``torchvision`` look-alikes, small text corpora) lie in the folder
``standins/`` beside the manifest. The benchmark (benchmarks/external.py) and the real-program
corpus (faultlens.corpus.real) both read programs through this module, and the scoring helpers
for a plain run (the program's own printed score) live here too, so there is one definition.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultlens import taxonomy as _taxonomy

FAULT_TYPES = tuple(_taxonomy.FAULT_TYPES)


class ManifestError(ValueError):
    """The manifest or a source does not allow a case to be materialised."""


def split_of(program_id: str) -> str:
    """The program's half, fixed by its id alone (decided before any rule was tuned on it):
    ``dev`` when the first 8 hex digits of sha256(id) are even, else ``test``."""
    return "dev" if int(hashlib.sha256(program_id.encode()).hexdigest()[:8], 16) % 2 == 0 else "test"


@dataclass
class Case:
    """One runnable case: a clean program (``expected == "healthy"``) or one faulty variant."""
    id: str
    program: dict[str, Any]
    expected: str                      # "healthy" or "faulty"
    types: list[str] = field(default_factory=list)
    edit: dict[str, Any] | None = None
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def split(self) -> str:
        return self.program["split"]

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.id)


def standins_of(manifest: Path) -> Path:
    """The stand-ins folder of a manifest: ``standins/`` beside it."""
    return Path(manifest).resolve().parent / "standins"


def load(path: Path, *, fragments: bool = True) -> dict[str, Any]:
    """The manifest, with the programs of ``fragments/*.json`` beside it (work in progress) appended."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() else {"sources": {}, "programs": []}
    for p in data.get("programs", []):
        p["_from"] = str(path)
    frag_dir = path.resolve().parent / "fragments"
    if fragments and frag_dir.is_dir():
        for f in sorted(frag_dir.glob("*.json")):
            frag = json.loads(f.read_text())
            data.setdefault("sources", {}).update(frag.get("sources", {}))
            for p in frag.get("programs", []):
                p["_from"] = str(f)
                data.setdefault("programs", []).append(p)
    check(data)
    return data


def check(data: dict[str, Any]) -> None:
    seen: set[str] = set()
    for p in data.get("programs", []):
        for k in ("id", "repo", "path", "score"):
            if k not in p:
                raise ManifestError(f"program {p.get('id', '?')}: missing {k!r}")
        if p["repo"] not in data.get("sources", {}):
            raise ManifestError(f"program {p['id']}: repository {p['repo']} is not among the sources")
        want = split_of(p["id"])
        if p.setdefault("split", want) != want:
            raise ManifestError(f"program {p['id']}: split {p['split']!r} differs from the fixed rule ({want!r})")
        for c in [{"id": p["id"]}] + p.get("cases", []):
            if c["id"] in seen:
                raise ManifestError(f"duplicate case id {c['id']}")
            seen.add(c["id"])
        for c in p.get("cases", []):
            bad = [t for t in c.get("types", []) if t not in FAULT_TYPES]
            if bad or not c.get("types"):
                raise ManifestError(f"case {c['id']}: fault types {c.get('types')} (known: {', '.join(FAULT_TYPES)})")
            if "edit" not in c or not {"old", "new"} <= set(c["edit"]):
                raise ManifestError(f"case {c['id']}: an edit needs old and new text")
            if not c["id"].startswith(p["id"] + "#"):
                raise ManifestError(f"case {c['id']}: ids are '<program id>#<name>'")
        for e in p.get("shorten") or []:
            if e["old"].count("\n") != e["new"].count("\n"):
                raise ManifestError(f"program {p['id']}: a shorten edit must keep the line count")


def cases(data: dict[str, Any], *, split: str = "all", only: set[str] | None = None,
          kept_only: bool = True) -> list[Case]:
    """Every clean program and faulty variant of the manifest, in manifest order.
    ``kept_only`` drops what the plain runs rejected (a clean program that does not train well,
    a variant that does not hurt)."""
    out: list[Case] = []
    for p in data["programs"]:
        if split != "all" and p["split"] != split:
            continue
        clean_ok = (p.get("plain") or {}).get("kept", True)
        items = [Case(p["id"], p, "healthy", spec=p)] if clean_ok or not kept_only else []
        for c in p.get("cases", []):
            if kept_only and (not clean_ok or not (c.get("plain") or {}).get("kept", True)):
                continue
            items.append(Case(c["id"], p, "faulty", list(c["types"]), c["edit"], c))
        out.extend(x for x in items if only is None or x.id in only or p["id"] in only)
    return out


# --- materialisation ---------------------------------------------------------------------------

def _clone_dir(sources: Path, data: dict[str, Any], repo: str) -> Path:
    src = data["sources"][repo]
    d = sources / src.get("clone_as", repo.split("/")[-1])
    if not d.is_dir():
        raise ManifestError(f"{repo}: no local clone at {d} (git clone it there, or pass --sources)")
    return d


def _repo_files(clone: Path, commit: str | None, rel: str) -> list[tuple[str, bytes | None]]:
    """(path, content) under ``rel`` at ``commit``; content None when the blob is not available."""
    if commit and (clone / ".git").exists():
        ls = subprocess.run(["git", "-C", str(clone), "ls-tree", "-r", "--name-only", commit, "--", rel],
                            capture_output=True, text=True)
        if ls.returncode != 0:
            raise ManifestError(f"{clone}: commit {commit} not in the clone ({ls.stderr.strip()})")
        out = []
        for name in ls.stdout.splitlines():
            blob = subprocess.run(["git", "-C", str(clone), "show", f"{commit}:{name}"], capture_output=True)
            out.append((name, blob.stdout if blob.returncode == 0 else None))
        if not out:
            raise ManifestError(f"{clone}: {rel} not found at {commit}")
        return out
    base = clone / rel
    if base.is_file():
        return [(rel, base.read_bytes())]
    if not base.is_dir():
        raise ManifestError(f"{clone}: {rel} not found")
    return [(str(p.relative_to(clone)), p.read_bytes()) for p in sorted(base.rglob("*")) if p.is_file()]


def _edit_lines(text: str, old: str, new: str, case_id: str) -> tuple[str, list[int]]:
    """Apply the single edit; return the new text and the edited lines (1-based): the lines the new
    text occupies, or, for a deletion, the lines either side of where the old text stood."""
    n = text.count(old)
    if n != 1:
        raise ManifestError(f"case {case_id}: the edit's old text occurs {n} times (must be exactly once)")
    at = text.index(old)
    out = text[:at] + new + text[at + len(old):]
    first = out.count("\n", 0, at) + 1
    body = [i for i, ln in enumerate(new.split("\n")) if ln.strip()]
    if body:
        return out, [first + i for i in body]
    # a deletion: the line it was cut from, or the nearest statement lines above and below (a
    # comment line is no statement: no tool reports one, and the deleted call belongs between
    # the statements around it)
    if at > 0 and not text[:at].endswith("\n"):
        return out, [first]
    lines = out.split("\n")

    def code(i: int) -> bool:
        t = lines[i - 1].strip()
        return bool(t) and not t.startswith("#")
    above = next((i for i in range(first - 1, 0, -1) if code(i)), None)
    below = next((i for i in range(first, len(lines) + 1) if code(i)), None)
    return out, sorted({x for x in (above, below) if x is not None})


def materialise(case: Case, data: dict[str, Any], sources: Path, workdir: Path,
                standins: Path | None = None) -> dict[str, Any]:
    """Write the case's folder; return {"root", "cwd", "entry", "true_lines": [(abspath, line)], "notes"}.
    ``standins``: the stand-ins folder (default: the one beside the program's manifest)."""
    p = case.program
    if standins is None and p.get("_from"):
        standins = standins_of(Path(p["_from"]))
    # a program read at another commit than the repository's (pytorch/tutorials is read file by
    # file, and not every file is stored at one commit) names its own
    commit = p.get("source_commit") or data["sources"][p["repo"]].get("commit")
    clone = _clone_dir(sources, data, p["repo"])
    root = workdir / case.slug
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    notes: list[str] = []
    for rel in p.get("copy") or [os.path.dirname(p["path"]) or p["path"]]:
        for name, blob in _repo_files(clone, commit, rel):
            dst = root / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if blob is None:
                notes.append(f"{name}: not in the local clone")
                continue
            dst.write_bytes(blob)
    for rel, n in (p.get("truncate") or {}).items():
        f = root / rel
        if f.exists():
            f.write_text("".join(f.read_text(encoding="utf-8", errors="replace").splitlines(True)[:n]))
    for spec in p.get("standin_data") or []:
        if standins is None:
            raise ManifestError(f"program {p['id']}: stand-in data needs the stand-ins folder")
        from_standins_text(root / spec["path"], spec, standins)
    for i, e in enumerate(p.get("shorten") or []):
        # budget edits every case of the program gets, the clean one included (fewer epochs where
        # the program has no argument for it): same line count, so the true lines stay put
        f = root / e.get("file", p["path"])
        text, _ = _edit_lines(f.read_text(encoding="utf-8"), e["old"], e["new"], f"{p['id']} shorten {i}")
        f.write_text(text, encoding="utf-8")
    true: list[tuple[str, int]] = []
    if case.edit is not None:
        f = root / case.edit.get("file", p["path"])
        text, lines = _edit_lines(f.read_text(encoding="utf-8"), case.edit["old"], case.edit["new"], case.id)
        f.write_text(text, encoding="utf-8")
        true += [(str(f.resolve()), ln) for ln in lines]
        for extra in case.spec.get("lines_text") or []:
            g = root / extra.get("file", case.edit.get("file", p["path"]))
            src = g.read_text(encoding="utf-8").splitlines()
            want = " ".join(extra["text"].split())
            hits = [i + 1 for i, ln in enumerate(src) if " ".join(ln.split()) == want]
            if not hits:
                raise ManifestError(f"case {case.id}: true line {extra['text']!r} not found in {g.name}")
            true += [(str(g.resolve()), h) for h in hits]
    cwd = root / p.get("cwd", os.path.dirname(p["path"]))
    return {"root": str(root), "cwd": str(cwd), "entry": str((root / p["path"]).resolve()),
            "true_lines": true, "notes": notes}


def from_standins_text(path: Path, spec: dict[str, Any], standins: Path) -> None:
    import sys
    sys.path.insert(0, str(standins))
    try:
        from faultlens_standin_text import write_corpus  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_corpus(path, lines=int(spec.get("lines", 2000)), seed=int(spec.get("seed", 0)),
                 style=spec.get("style", "words"))


def run_env(extra: dict[str, str] | None, standins: Path) -> dict[str, str]:
    """The environment of every benchmark run, plain or under faultlens: the stand-ins first on
    PYTHONPATH, a non-interactive matplotlib, one thread per run (runs go in parallel)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(standins)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update({"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "PYTHONHASHSEED": "0", "WANDB_MODE": "disabled"})
    env.update(extra or {})
    return env


# --- plain scores ------------------------------------------------------------------------------

def read_score(output: str, score: dict[str, Any]) -> float | None:
    """The program's own score: the last match of ``score.regex`` in its output (group ``group``,
    default 1); ``reduce: "mean_last_k"`` averages the last ``k`` matches. NaN/inf stay as such."""
    vals = []
    for m in re.finditer(score["regex"], output):
        s = m.group(score.get("group", 1))
        try:
            vals.append(float(s))
        except ValueError:
            vals.append(math.nan)
    if not vals:
        return None
    k = int(score.get("k", 1))
    tail = vals[-k:]
    return sum(tail) / len(tail)


def hurts(clean: float | None, faulty: float | None, status: str, score: dict[str, Any]) -> bool:
    """Whether a variant's plain run is really worse than the clean program's: it crashed, its score
    is missing or not finite, or it is worse by the manifest's margin (default: 10% of the clean
    score's magnitude, at least ``min_delta``)."""
    if status != "ok":
        return True
    if faulty is None or not math.isfinite(faulty):
        return True
    if clean is None or not math.isfinite(clean):
        return False
    margin = max(float(score.get("rel", 0.10)) * abs(clean), float(score.get("min_delta", 0.0)))
    return faulty < clean - margin if score.get("better", "lower") == "higher" else faulty > clean + margin


def good_clean(value: float | None, status: str, score: dict[str, Any]) -> bool:
    """A clean program is kept when it ran and reached the manifest's ``good`` bound."""
    if status != "ok" or value is None or not math.isfinite(value):
        return False
    bound = score.get("good")
    if bound is None:
        return True
    return value >= bound if score.get("better", "lower") == "higher" else value <= bound
