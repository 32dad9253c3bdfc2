"""Sample applications: scenario data (samples/scenarios/*.yaml) -> filled workbooks in samples/.

A scenario file holds one clean application and variants that each patch it to show one
typical mistake, with the finding codes the variant must produce. The tests read the same
files, so every bundled sample is also a checked expectation.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from pipeline.fill import fill_template
from pipeline.resources import samples_dir


def load_scenarios() -> list[dict[str, Any]]:
    out = []
    for path in sorted((samples_dir() / "scenarios").glob("*.yaml")):
        with open(path, encoding="utf-8") as fh:
            out.append(yaml.safe_load(fh))
    return out


def _walk(data: Any, parts: list[str]) -> tuple[Any, str | int]:
    for part in parts[:-1]:
        data = data[int(part)] if isinstance(data, list) else data.setdefault(part, {})
    last = parts[-1]
    return data, int(last) if isinstance(data, list) else last


def apply_patch(base: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """A copy of ``base`` with the patch operations applied (set, append, extend_participants)."""
    data = copy.deepcopy(base)
    for op in patch:
        if op["op"] == "set":
            parent, key = _walk(data, op["path"].split("."))
            parent[key] = op["value"]
        elif op["op"] == "append":
            data.setdefault(op["path"], []).append(copy.deepcopy(op["value"]))
        elif op["op"] == "extend_participants":
            people = data["participants"]
            start = max(p["no"] for p in people) + 1
            for i in range(op["count"]):
                person = copy.deepcopy(people[i % len(people)])
                person.update({"no": start + i, "name": f"追加参加者 Extra participant {i + 1}",
                               "role": "参加者 Participant"})
                people.append(person)
        else:
            raise ValueError(f"unknown patch op {op['op']!r}")
    return data


def variants() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """Every (pack id, variant name, variant spec, filled data) of every scenario file."""
    out = []
    for sc in load_scenarios():
        for name, spec in sc["variants"].items():
            out.append((sc["pack"], name, spec, apply_patch(sc["base"], spec.get("patch", []))))
    return out


def sample_file_name(pack_id: str, variant: str) -> str:
    return f"{pack_id}__{variant}.xlsx"


def build_samples(folder: Path | None = None) -> list[Path]:
    """Write every variant of every scenario as a filled template workbook."""
    folder = folder or samples_dir()
    paths = []
    for pack_id, name, _spec, data in variants():
        paths.append(fill_template(pack_id, data, folder / sample_file_name(pack_id, name)))
    return paths


