"""SARIF 2.1.0 output: one result per diagnosed fault (dynamic findings, with the run's
evidence in ``properties``) and one per lint finding."""
from __future__ import annotations

from typing import Any

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _region(l: dict[str, Any]) -> dict[str, Any]:
    r = {"startLine": max(1, int(l.get("line") or 1))}
    if l.get("column"):
        r["startColumn"] = max(1, int(l["column"]))
    if l.get("end_line"):
        r["endLine"] = max(r["startLine"], int(l["end_line"]))
    if l.get("end_column") and int(l["end_column"]) > 0:
        ec = int(l["end_column"])
        if r.get("endLine", r["startLine"]) > r["startLine"] or ec > r.get("startColumn", 1):
            r["endColumn"] = ec
    return r


def _loc(l: dict[str, Any]) -> dict[str, Any]:
    out = {"physicalLocation": {"artifactLocation": {"uri": str(l["path"]).replace("\\", "/")}, "region": _region(l)}}
    if l.get("cell"):  # a notebook: region in its program's lines, the cell's own in properties
        out["properties"] = {"cell": l["cell"], "cell_line": l.get("cell_line")}
    if l.get("role") or l.get("node"):
        out["message"] = {"text": f"{l.get('role') or 'location'}" + (f" ({l['node']})" if l.get("node") else "")}
    return out


def render_sarif(report: Any) -> dict[str, Any]:
    from faultlens import __version__

    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    d = report.to_dict()
    for f in d["faults"]:
        rid = f"faultlens/{f['type']}"
        rules.setdefault(rid, {"id": rid, "name": f["type"],
                               "shortDescription": {"text": f"dynamic diagnosis: {f['type'].replace('_', ' ')} fault"},
                               "properties": {"category": "dynamic"}})
        locs = [l for l in f["locations"] if l.get("path")]
        res = {
            "ruleId": rid,
            "level": "error" if d["verdict"] in ("faulty", "crashed") else "warning",
            "message": {"text": f["summary"]},
            "locations": [_loc(locs[0])] if locs else [],
            "properties": {"confidence": f["confidence"], "verdict": d["verdict"], "evidence": f["evidence"]},
        }
        if len(locs) > 1:
            res["relatedLocations"] = [dict(_loc(l), id=i) for i, l in enumerate(locs[1:], start=1)]
        if f.get("patch"):
            res["properties"]["patch"] = f["patch"]
        results.append(res)
    for x in d["lint"]:
        rid = x.get("code") or "lint"
        rules.setdefault(rid, {"id": rid, "name": x.get("name") or rid, "shortDescription": {"text": x.get("name") or rid},
                               "properties": {"category": "static"}})
        res = {"ruleId": rid, "level": _LEVEL.get(x.get("severity", "warning"), "warning"),
               "message": {"text": x.get("message") or rid}}
        if x.get("path") and x.get("line"):
            res["locations"] = [_loc(x)]
        results.append(res)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "faultlens", "version": __version__,
                                "informationUri": "https://github.com/faultlens/faultlens",
                                "rules": list(rules.values())}},
            "results": results,
            "properties": {"program": d["program"], "verdict": d["verdict"], "steps": d["steps"],
                           "symptoms": d["symptoms"]},
        }],
    }
