"""Sample applications: scenario data (scenarios/*.yaml) -> filled workbooks in samples/.

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
from pipeline.resources import samples_dir, scenarios_dir


def load_scenarios() -> list[dict[str, Any]]:
    out = []
    for path in sorted(scenarios_dir().glob("*.yaml")):
        with open(path, encoding="utf-8") as fh:
            out.append(yaml.safe_load(fh))
    return out


def _walk(data: Any, parts: list[str]) -> tuple[Any, str | int]:
    for part in parts[:-1]:
        data = data[int(part)] if isinstance(data, list) else data.setdefault(part, {})
    last = parts[-1]
    return data, int(last) if isinstance(data, list) else last


def apply_patch(base: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """A copy of ``base`` with the patch operations applied (set, update, names, append, extend_participants).

    ``update`` merges a mapping into the one at ``path`` (a variant's own PI and title: each sample is its
    own application); ``names`` gives the rows of a table their names in order (its own people).
    """
    data = copy.deepcopy(base)
    for op in patch:
        if op["op"] == "set":
            parent, key = _walk(data, op["path"].split("."))
            parent[key] = op["value"]
        elif op["op"] == "update":
            parent, key = _walk(data, op["path"].split("."))
            current = parent[key] if isinstance(parent, list) else parent.get(key, {})
            parent[key] = {**current, **copy.deepcopy(op["value"])}
        elif op["op"] == "names":
            rows = data[op["path"]]
            if len(op["value"]) != len(rows):
                raise ValueError(f"names: {len(op['value'])} names for {len(rows)} rows of {op['path']}")
            for row, name in zip(rows, op["value"], strict=True):
                row["name"] = name
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
    """Every (pack id, variant name, variant spec, filled data) of every scenario file.

    A variant's ``identity`` patch (its own PI, title and people) comes first, then its mistake.
    """
    out = []
    for sc in load_scenarios():
        for name, spec in sc["variants"].items():
            patch = [*spec.get("identity", []), *spec.get("patch", [])]
            out.append((sc["pack"], name, spec, apply_patch(sc["base"], patch)))
    return out


def sample_file_name(pack_id: str, variant: str) -> str:
    return f"{pack_id}__{variant}.xlsx"


def build_samples(folder: Path | None = None) -> list[Path]:
    """Write every variant of every scenario as a filled template workbook."""
    folder = folder or samples_dir()
    paths = []
    for pack_id, name, _spec, data in variants():
        paths.append(fill_template(pack_id, data, folder / sample_file_name(pack_id, name), reproducible=True))
    return paths




_FAMILY = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田"]
_GIVEN = ["花子", "太郎", "健", "美咲", "翔太", "陽菜", "大輔", "結衣", "蓮", "葵"]
_UNIS = ["東都大学", "北浜工業大学", "西都大学", "南港大学", "中央科学技術大学", "湖東大学", "山手工業高等専門学校",
         "海浜研究開発機構"]


def synthetic_applications(n: int, seed: int = 0) -> list[tuple[str, str, dict[str, Any]]]:
    """``n`` varied, distinct applications (pack id, file stem, data) built from the scenario variants.

    Institutions, PIs, titles and amounts vary so each is its own submission; the mistakes of
    the variants come along, so a batch has a realistic mix of clean and faulty files.
    """
    import random

    rng = random.Random(seed)
    pool = variants()
    out = []
    for i in range(n):
        pack_id, name, _spec, data = pool[i % len(pool)]
        data = copy.deepcopy(data)
        plan = data["plan"]
        plan["institution"] = f"{rng.choice(_UNIS)}{i // len(_UNIS) or ''}"
        plan["pi_name"] = f"{rng.choice(_FAMILY)} {rng.choice(_GIVEN)}{i}"
        plan["title_ja"] = f"{plan['title_ja']}（{i}）"
        for row in data.get("budget", []):
            if isinstance(row.get("quantity"), int) and row["quantity"] > 2 and rng.random() < 0.3:
                row["quantity"] -= 1
        for person in data.get("participants", []):
            person["name"] = f"{person['name']} {i}"
        out.append((pack_id, f"{i:05d}-{pack_id}-{name}", data))
    return out
