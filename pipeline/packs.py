"""Rule packs: one YAML file per programme / course / fiscal year, loaded and checked once.

A pack holds every number, list, clause and rule of one call; its form (fields and tables
of the workbook) and its eligibility lexicon live in files it names. Nothing here knows
any programme: next year's call is a new file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml

from pipeline import datacache, schemas
from pipeline.normalise import fold_for_match
from pipeline.resources import packs_dir, schemas_dir

# Defined names of the hidden meta sheet every template carries (how a workbook says what it is).
META_NAMES = {"template_id": "shinsei_template_id", "template_version": "shinsei_template_version",
              "pack": "shinsei_pack"}


class PackError(Exception):
    """A rule pack or form file is missing or does not match its schema."""


def _jsonable(value: Any) -> Any:
    """YAML turns 2026-03-31 into a date; packs are JSON-shaped data, so keep dates as ISO text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _load_yaml(path: Path, schema_name: str) -> dict[str, Any]:
    def prepare(raw: Any) -> dict[str, Any]:
        data = _jsonable(raw)
        problems = schemas.errors(schema_name, data)
        if problems:
            lines = "\n".join(f"  {p}: {m}" for p, m in problems[:20])
            raise PackError(f"{path.name} がスキーマ {schema_name} に合いません / does not match its schema:\n{lines}")
        return data

    try:
        return datacache.load_yaml(path, prepare, tag=f"{schema_name}:{_schema_tag(schema_name)}")
    except FileNotFoundError as exc:
        raise PackError(f"ファイルがありません / file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise PackError(f"YAMLとして読めません / not valid YAML: {path}: {exc}") from exc


@cache
def _schema_tag(schema_name: str) -> str:
    return datacache.file_tag(schemas_dir() / f"{schema_name}.schema.json")


@dataclass(frozen=True)
class Choice:
    code: str
    ja: str
    en: str
    list_name: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """What a dropdown shows: Japanese first, English beside."""
        return f"{self.ja} {self.en}"


@dataclass(frozen=True)
class Pack:
    """One loaded rule pack with its form."""

    data: dict[str, Any]
    form: dict[str, Any]
    path: Path

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def template(self) -> dict[str, Any]:
        return self.data["template"]

    @property
    def money(self) -> dict[str, Any]:
        return self.data["money"]

    @property
    def rules(self) -> list[dict[str, Any]]:
        return self.data["rules"]

    @cached_property
    def lists(self) -> dict[str, list[Choice]]:
        out: dict[str, list[Choice]] = {}
        for name, items in self.data["lists"].items():
            out[name] = [
                Choice(it["code"], it["ja"], it["en"], name,
                       {k: v for k, v in it.items() if k not in ("code", "ja", "en")})
                for it in items
            ]
        return out

    @cached_property
    def _choice_index(self) -> dict[str, dict[str, Choice]]:
        index: dict[str, dict[str, Choice]] = {}
        for name, items in self.lists.items():
            keys: dict[str, Choice] = {}
            for ch in items:
                for text in (ch.code, ch.ja, ch.en, ch.label, *ch.extra.get("aliases", [])):
                    keys.setdefault(fold_for_match(str(text)), ch)
            index[name] = keys
        return index

    @cached_property
    def _choice_memo(self) -> dict[tuple[str, str], Choice | None]:
        return {}

    def choice(self, list_name: str, text: str) -> Choice | None:
        """The list entry a cell's text means (code, Japanese, English, label or alias), or None."""
        key = (list_name, text)
        memo = self._choice_memo
        if key not in memo:
            if len(memo) > 50_000:
                memo.clear()
            memo[key] = self._choice_index.get(list_name, {}).get(fold_for_match(text))
        return memo[key]

    def choice_by_code(self, list_name: str, code: str) -> Choice | None:
        for ch in self.lists.get(list_name, []):
            if ch.code == code:
                return ch
        return None

    def clause(self, clause_id: str) -> dict[str, str]:
        """A clause reference ready for a finding: document title (ja/en), section and quote."""
        c = self.data["clauses"][clause_id]
        doc = self.data["documents"][c["doc"]]
        out = {"id": clause_id, "document": doc["ja"], "document_en": doc["en"], "section": c["section"]}
        if "quote" in c:
            out["quote"] = c["quote"]
        return out

    @cached_property
    def sheets(self) -> dict[str, str]:
        return self.form["sheets"]

    @cached_property
    def tables(self) -> dict[str, dict[str, Any]]:
        return {t["key"]: t for t in self.form["tables"]}

    @cached_property
    def fields(self) -> dict[str, dict[str, Any]]:
        """Single-cell fields (plan sections and budget totals) by key."""
        out = {}
        for section in self.form["sections"]:
            for f in section["fields"]:
                out[f["key"]] = {**f, "sheet": section["sheet"]}
        for f in self.form["totals"]["fields"]:
            out[f["key"]] = {**f, "sheet": self.form["totals"]["sheet"], "total": True}
        return out

    @property
    def title(self) -> dict[str, str]:
        return self.template["title"]


def _check_references(data: dict[str, Any], form: dict[str, Any], path: Path) -> None:
    """Cross-file references a schema cannot see: clause ids, list names, sheet keys."""
    problems = []
    for rule in data["rules"] + data.get("cross_rules", []):
        if rule["clause"] not in data["clauses"]:
            problems.append(f"rule {rule['code']}: unknown clause {rule['clause']!r}")
    for cid, c in data["clauses"].items():
        if c["doc"] not in data["documents"]:
            problems.append(f"clause {cid}: unknown document {c['doc']!r}")
    for t in form["tables"]:
        if t["sheet"] not in form["sheets"]:
            problems.append(f"table {t['key']}: unknown sheet {t['sheet']!r}")
        for col in t["columns"]:
            if col.get("list") and col["list"] not in data["lists"]:
                problems.append(f"table {t['key']}.{col['key']}: list {col['list']!r} missing from the pack")
    for s in form["sections"]:
        for f in s["fields"]:
            if f.get("list") and f["list"] not in data["lists"]:
                problems.append(f"field {f['key']}: list {f['list']!r} missing from the pack")
    if problems:
        raise PackError(f"{path.name}: " + "; ".join(problems))


@cache
def load_pack(pack_id: str) -> Pack:
    """Load, validate and cache the pack ``packs/<pack_id>.yaml``."""
    path = packs_dir() / f"{pack_id}.yaml"
    if not path.is_file():
        known = ", ".join(pack_ids()) or "-"
        raise PackError(f"ルールパック {pack_id!r} がありません（あるもの: {known}）/ "
                        f"no rule pack {pack_id!r} (available: {known})")
    data = _load_yaml(path, "program")
    if data["id"] != pack_id:
        raise PackError(f"{path.name}: id {data['id']!r} does not match the file name")
    form = _load_yaml(packs_dir() / data["form"], "form")
    _check_references(data, form, path)
    return Pack(data=data, form=form, path=path)


def pack_ids() -> list[str]:
    """Every pack in the packs folder (rule packs are the YAML files at its top level)."""
    return sorted(p.stem for p in packs_dir().glob("*.yaml"))


def all_packs() -> list[Pack]:
    return [load_pack(i) for i in pack_ids()]


def pack_for_template(template_id: str) -> Pack | None:
    """The pack whose template a workbook says it is: the pack of the same name first (one file parsed),
    else every pack."""
    if (packs_dir() / f"{template_id}.yaml").is_file():
        pack = load_pack(template_id)
        if pack.template["id"] == template_id:
            return pack
    for pack in all_packs():
        if pack.template["id"] == template_id:
            return pack
    return None
