"""Rule packs: one YAML file per programme / course / fiscal year, loaded and checked once.

A pack holds every number, list, clause and rule of one call; its form (fields, tables, and the
bindings that tell the engine which table and column is which) and its eligibility lexicon live in
files it names. A pack may ``extends:`` another and state only what differs. Nothing here knows any
programme: next year's call is a new file.

Every file is parsed through ``datacache`` (a pickle keyed by the file's own bytes), then parents are
merged into children, so a changed parent is read again and the merged pack follows it. The merged
pack is checked against its schema and every rule against its check kind's contract before it is
used: a broken pack is refused when it is loaded, with the rule and the parameter named.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import os
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from pipeline import datacache, schemas
from pipeline.normalise import fold_for_match
from pipeline.record import FrozenRecord
from pipeline.resources import packs_dir, schemas_dir

# Defined names of the hidden meta sheet every template carries (how a workbook says what it is).
META_NAMES = {"template_id": "shinsei_template_id", "template_version": "shinsei_template_version",
              "pack": "shinsei_pack"}

# Further folders (or pack files) to look for packs in, os.pathsep-separated: test packs, a draft of
# next year's call. The shipped packs folder is always searched first.
SEARCH_PATH_ENV = "SHINSEI_PACKS_PATH"
_MAX_EXTENDS = 8


class PackError(Exception):
    """A rule pack or form file is missing, does not match its schema, or breaks a check's contract."""


def _jsonable(value: Any) -> Any:
    """YAML turns 2026-03-31 into a date; packs are JSON-shaped data, so keep dates as ISO text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _schema_lines(problems: list[tuple[str, str]]) -> str:
    return "\n".join(f"  {p}: {m}" for p, m in problems[:20])


def _load_yaml(path: Path, schema_name: str) -> dict[str, Any]:
    """A pack or form file, parsed and checked against its schema (a pack that extends another is
    checked once merged; alone it only has to be a mapping of known keys)."""
    def prepare(raw: Any) -> dict[str, Any]:
        data = _jsonable(raw)
        if not isinstance(data, dict):
            raise PackError(f"{path.name}: YAMLの中身がマッピングではありません / the file is not a YAML mapping")
        if schema_name == "program" and "extends" in data:
            unknown = sorted(set(data) - set(schemas.schema("program")["properties"]))
            if unknown:
                raise PackError(f"{path.name}: 未知の項目 / unknown keys: {', '.join(unknown)}")
            return data
        problems = schemas.errors(schema_name, data)
        if problems:
            raise PackError(f"{path.name} がスキーマ {schema_name} に合いません / does not match its schema:\n"
                            f"{_schema_lines(problems)}")
        return data

    try:
        return datacache.load_yaml(path, prepare, tag=f"{schema_name}:{_schema_tag(schema_name)}")
    except FileNotFoundError as exc:
        raise PackError(f"ファイルがありません / file not found: {path}") from exc
    except (datacache.yaml_error(), ValueError) as exc:  # ValueError: a date YAML cannot build (2026-12-32)
        raise PackError(f"YAMLとして読めません / not valid YAML: {path}: {exc}") from exc


@cache
def _schema_tag(schema_name: str) -> str:
    return datacache.file_tag(schemas_dir() / f"{schema_name}.schema.json")


class Choice(FrozenRecord):
    """One entry of a pack's list (a dropdown): its code, Japanese and English labels, and anything else."""

    _fields = ("code", "ja", "en", "list_name", "extra")
    __slots__ = _fields
    code: str
    ja: str
    en: str
    list_name: str
    extra: dict[str, Any]

    def __init__(self, code: str, ja: str, en: str, list_name: str, extra: dict[str, Any] | None = None) -> None:
        self._assign(code, ja, en, list_name, {} if extra is None else extra)

    @property
    def label(self) -> str:
        """What a dropdown shows: Japanese first, English beside."""
        return f"{self.ja} {self.en}"


class Pack(FrozenRecord):
    """One loaded rule pack (parents merged in) with its form (no __slots__: the cached properties need a __dict__)."""

    _fields = ("data", "form", "path", "lineage", "form_path")
    data: dict[str, Any]
    form: dict[str, Any]
    path: Path
    lineage: tuple[Path, ...]   # the pack's file, then the files it extends
    form_path: Path | None

    def __init__(self, data: dict[str, Any], form: dict[str, Any], path: Path, lineage: tuple[Path, ...] = (),
                 form_path: Path | None = None) -> None:
        self._assign(data, form, path, lineage, form_path)

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

    @property
    def cross_rules(self) -> list[dict[str, Any]]:
        return self.data.get("cross_rules", [])

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

    @cached_property
    def required_columns(self) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Each table of the form with those of its columns that must be filled in (``required``)."""
        return [(t, [c for c in t["columns"] if c.get("required")]) for t in self.form["tables"]]

    @property
    def title(self) -> dict[str, str]:
        return self.template["title"]

    # -- what the engine calls each table and column (the form's bindings) -------------------------
    @cached_property
    def bindings(self) -> dict[str, dict[str, str]]:
        return self.form.get("bindings", {})

    def bound_table(self, group: str) -> str | None:
        """The table key the form binds to ``group`` ("people", "visits", "budget" …), or None."""
        return self.bindings.get(group, {}).get("table")

    def bind(self, group: str, concept: str) -> str | None:
        """The column (or, for a group without a table, field) key the form binds to ``group.concept``."""
        return self.bindings.get(group, {}).get(concept)

    def field(self, sub: dict[str, Any], concept: str) -> Any:
        """The value of the plan field the form binds to ``plan.<concept>`` (institution, pi, title …)."""
        key = self.bind("plan", concept)
        return (sub.get("plan") or {}).get(key) if key else None

    def rows(self, sub: dict[str, Any], group: str) -> list[dict[str, Any]]:
        """The rows of the table the form binds to ``group`` (people, visits, budget …); [] if none."""
        table = self.bound_table(group)
        return (sub.get(table) or []) if table else []

    def cell(self, row: dict[str, Any], group: str, concept: str) -> Any:
        """``row``'s value of the column the form binds to ``group.concept``; None if the form has none."""
        key = self.bind(group, concept)
        return row.get(key) if key else None

    def column(self, table: str, key: str) -> dict[str, Any] | None:
        spec = self.tables.get(table)
        return next((c for c in spec["columns"] if c["key"] == key), None) if spec else None

    @property
    def months(self) -> dict[str, Any]:
        """How stays are counted in months (the pack's ``months`` convention; whole months + days/30)."""
        return self.data.get("months", {})

    @property
    def identity(self) -> list[dict[str, Any]]:
        return self.form.get("identity", [])

    def message_values(self) -> dict[str, Any]:
        """Placeholders every message of the pack may use (course, programme, fiscal year)."""
        return {"course_ja": self.data["course"]["ja"], "course_en": self.data["course"]["en"],
                "programme_ja": self.data["programme"]["ja"], "programme_en": self.data["programme"]["en"],
                "fiscal_year": self.data["fiscal_year"]}


# ---- finding and merging files ----------------------------------------------------------------------

def search_folders() -> list[Path]:
    """Where packs are looked for: the shipped packs folder, then each entry of SHINSEI_PACKS_PATH."""
    out = [packs_dir()]
    for part in os.environ.get(SEARCH_PATH_ENV, "").split(os.pathsep):
        if part.strip():
            p = Path(part.strip())
            out.append(p.parent if p.suffix in (".yaml", ".yml") else p)
    return out


def _extra_files() -> list[Path]:
    return [Path(p.strip()) for p in os.environ.get(SEARCH_PATH_ENV, "").split(os.pathsep)
            if p.strip().endswith((".yaml", ".yml"))]


def pack_file(pack_id: str, near: Path | None = None) -> Path | None:
    """The file of pack ``pack_id``: beside ``near`` first (a pack's parent), then the search folders."""
    if not pack_id.replace("-", "").isalnum():
        return None
    for folder in ([near] if near else []) + search_folders():
        path = folder / f"{pack_id}.yaml"
        if path.is_file():
            return path
    return None


def _merge(parent: Any, child: Any) -> Any:
    """``child`` over ``parent``: mappings merged key by key (``null`` removes a key), anything else replaced."""
    if isinstance(parent, dict) and isinstance(child, dict):
        out = dict(parent)
        for k, v in child.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = _merge(parent.get(k), v) if k in parent else copy.deepcopy(v)
        return out
    return copy.deepcopy(child)


def _merge_rules(parent: list[dict[str, Any]], child: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """Rules by code: a child rule with a parent's code changes it (``remove: true`` drops it), a new code is added."""
    out = {r["code"]: copy.deepcopy(r) for r in parent}
    for r in child:
        code = r.get("code")
        if not code:
            raise PackError(f"{where}: a rule without a code")
        if r.get("remove"):
            if code not in out:
                raise PackError(f"{where}: rule {code} is removed but the parent pack has no such rule")
            del out[code]
        elif code in out:
            out[code] = _merge(out[code], {k: v for k, v in r.items() if k != "code"})
        else:
            out[code] = copy.deepcopy(r)
    return list(out.values())


def _resolve(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], tuple[Path, ...], dict[str, Path]]:
    """A pack file with its parents merged in, its lineage, and where each file reference points."""
    if path in seen or len(seen) > _MAX_EXTENDS:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise PackError(f"extends が循環しています / extends loops: {chain}")
    data = _load_yaml(path, "program")
    refs = {k: (path.parent / data[k]).resolve() for k in ("form", "lexicon") if k in data}
    if "extends" not in data:
        return data, (path,), refs
    parent_path = pack_file(str(data["extends"]), near=path.parent)
    if parent_path is None:
        raise PackError(f"{path.name}: extends {data['extends']!r}: そのパックがありません / no such pack")
    parent, lineage, parent_refs = _resolve(parent_path.resolve(), (*seen, path))
    merged = _merge({k: v for k, v in parent.items() if k not in ("rules", "cross_rules")},
                    {k: v for k, v in data.items() if k not in ("rules", "cross_rules", "extends")})
    for key in ("rules", "cross_rules"):
        if key in parent or key in data:
            merged[key] = _merge_rules(parent.get(key, []), data.get(key, []), f"{path.name} {key}")
    return merged, (path, *lineage), {**parent_refs, **refs}


def _check_references(pack: Pack) -> list[str]:
    """Cross-file references a schema cannot see: clause ids, list names, sheet keys, bindings, formulas."""
    data, form = pack.data, pack.form
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
        if s["sheet"] not in form["sheets"]:
            problems.append(f"section {s['title']['en']!r}: unknown sheet {s['sheet']!r}")
        for f in s["fields"]:
            if f.get("list") and f["list"] not in data["lists"]:
                problems.append(f"field {f['key']}: list {f['list']!r} missing from the pack")
    for group, names in pack.bindings.items():
        table = names.get("table")
        if table is not None and table not in pack.tables:
            problems.append(f"bindings.{group}: the form has no table {table!r}")
            continue
        for concept, key in names.items():
            if concept == "table":
                continue
            if table is None and key not in pack.fields:
                problems.append(f"bindings.{group}.{concept}: the form has no field {key!r}")
            elif table is not None and pack.column(table, key) is None:
                problems.append(f"bindings.{group}.{concept}: table {table!r} has no column {key!r}")
    for doc_id in {b.get("source") for b in _tax_bands(data)} - {None}:
        if doc_id not in data["clauses"]:
            problems.append(f"money.tax_equivalent: a band cites unknown clause {doc_id!r}")
    months = data.get("months", {})
    if months.get("clause") and months["clause"] not in data["clauses"]:
        problems.append(f"months: unknown clause {months['clause']!r}")
    problems += _identity_problems(pack)
    return problems


def _tax_bands(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data.get("money", {}).get("tax_equivalent", {}).get("transitional_deduction", {}).get("bands", [])


def _identity_problems(pack: Pack) -> list[str]:
    out = []

    def walk(item: dict[str, Any], where: str) -> None:
        if "first_of" in item:
            for i, sub in enumerate(item["first_of"]):
                walk(sub, f"{where}.first_of[{i}]")
        elif "field" in item:
            if item["field"] not in pack.fields:
                out.append(f"{where}: the form has no field {item['field']!r}")
        else:
            table, col = item.get("table"), item.get("column")
            if table not in pack.tables or pack.column(table, col) is None:
                out.append(f"{where}: the form has no column {table}.{col}")
            for c in (item.get("where") or {}):
                if pack.column(table, c) is None:
                    out.append(f"{where}: the form has no column {table}.{c}")

    for i, item in enumerate(pack.identity):
        walk(item, f"identity[{i}]")
    for name, items in pack.form.get("report", {}).items():
        for i, item in enumerate(items):
            walk(item, f"report.{name}[{i}]")
    return out


def check_pack(pack: Pack) -> list[str]:
    """Every problem of a loaded pack: references, formulas, and each rule against its check's contract."""
    from pipeline.formulas import formula_problems
    from pipeline.ingest.crosscheck import CROSS_CONTRACTS
    from pipeline.rules.checks import CONTRACTS
    from pipeline.rules.contract import rule_problems

    problems = _check_references(pack) + formula_problems(pack)
    codes: set[str] = set()
    for kind, contracts, rules in (("rule", CONTRACTS, pack.rules), ("cross rule", CROSS_CONTRACTS, pack.cross_rules)):
        for rule in rules:
            where = f"{kind} {rule['code']} ({rule['check']})"
            if rule["code"] in codes:
                problems.append(f"{where}: the code is used twice")
            codes.add(rule["code"])
            contract = contracts.get(rule["check"])
            if contract is None:
                problems.append(f"{where}: unknown check kind {rule['check']!r} "
                                f"(known: {', '.join(sorted(contracts))})")
                continue
            problems += rule_problems(pack, rule, contract, where)
    return problems


def load_pack_file(path: str | Path) -> Pack:
    """Load, merge, validate and check the pack in ``path`` (not cached: what ``shinsei pack check`` reads)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise PackError(f"ファイルがありません / file not found: {path}")
    data, lineage, refs = _resolve(path)
    if len(lineage) > 1:
        problems = schemas.errors("program", data)
        if problems:
            raise PackError(f"{path.name}（{' が '.join(p.name for p in lineage[1:])} を継承）がスキーマに合いません / "
                            f"merged with what it extends, does not match its schema:\n{_schema_lines(problems)}")
    if "form" not in refs:
        raise PackError(f"{path.name}: form がありません / names no form")
    form = _load_yaml(refs["form"], "form")
    pack = Pack(data=data, form=form, path=path, lineage=lineage, form_path=refs["form"])
    problems = check_pack(pack)
    if problems:
        raise PackError(f"{path.name}: ルールパックに誤りがあります / the pack is broken:\n"
                        + "\n".join(f"  {p}" for p in problems))
    return pack


@cache
def load_pack(pack: str | Path) -> Pack:
    """The pack ``pack``: an id (``packs/<id>.yaml``, or a SHINSEI_PACKS_PATH folder) or a file path; cached."""
    if isinstance(pack, Path) or str(pack).endswith((".yaml", ".yml")):
        return load_pack_file(pack)
    path = pack_file(str(pack))
    if path is None:
        known = ", ".join(pack_ids()) or "-"
        raise PackError(f"ルールパック {pack!r} がありません（あるもの: {known}）/ "
                        f"no rule pack {pack!r} (available: {known})")
    loaded = load_pack_file(path)
    if loaded.id != pack:
        raise PackError(f"{path.name}: id {loaded.id!r} does not match the file name")
    return loaded


def pack_ids() -> list[str]:
    """Every pack in the search folders (rule packs are the YAML files at a folder's top level)."""
    ids = {p.stem for folder in search_folders() for p in folder.glob("*.yaml")}
    ids |= {p.stem for p in _extra_files()}
    return sorted(ids)


def all_packs() -> list[Pack]:
    return [load_pack(i) for i in pack_ids()]


def pack_for_template(template_id: str) -> Pack | None:
    """The pack whose template a workbook says it is: the pack of the same name first (one file parsed),
    else every pack.

    A pack found once is found again without looking for its file (a stat per folder per workbook), for
    as long as load_pack's cache still holds that very pack."""
    known = _FOR_TEMPLATE.get(template_id)
    if known is not None and load_pack(known.id) is known:
        return known
    if pack_file(template_id) is not None:
        pack = load_pack(template_id)
        if pack.template["id"] == template_id:
            _FOR_TEMPLATE[template_id] = pack
            return pack
    for pack in all_packs():
        if pack.template["id"] == template_id:
            _FOR_TEMPLATE[template_id] = pack
            return pack
    return None


_FOR_TEMPLATE: dict[str, Pack] = {}  # template id -> its pack (only ids that name a pack: as many as the packs)


# ---- what identifies an application across versions (the ingest's submission key) ------------------

def _identity_value(sub: dict[str, Any], item: dict[str, Any]) -> str | None:
    """One identity value: a plan field's text, or the column of the first matching row (None: no row;
    ``first_of`` takes the first item that has a row, so an invitee without a name is still the invitee)."""
    if "first_of" in item:
        return next((v for v in (_identity_value(sub, i) for i in item["first_of"]) if v is not None), "")
    if "field" in item:
        return str((sub.get("plan") or {}).get(item["field"]) or "")
    for row in sub.get(item["table"]) or []:
        if all(row.get(k) == v for k, v in (item.get("where") or {}).items()):
            return str(row.get(item["column"]) or "")
    return None


def submission_identity(sub: dict[str, Any], pack: Pack | None = None) -> list[str]:
    """The values that identify ``sub`` across its versions: the programme (pack id), then the form's
    ``identity`` fields in order (NEXUS: institution, PI, title; India: institution, PI, invitee)."""
    pack = pack or load_pack(sub["program"])
    return [sub["program"], *(_identity_value(sub, item) or "" for item in pack.identity)]


def submission_key(sub: dict[str, Any], pack: Pack | None = None) -> str:
    """A stable hash of ``submission_identity``: each value folded (width, case, kana), joined by '|'."""
    parts = submission_identity(sub, pack)
    return hashlib.sha256("|".join(fold_for_match(str(p)) for p in parts).encode()).hexdigest()
