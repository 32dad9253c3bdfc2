"""What a decision on a line must satisfy, whoever takes it (the sheet import, the web page, Python).

A decision names one of the vocabulary's decisions (by code, or as the worklist's dropdown writes it),
an allowed amount that follows the decision's rule, and the comment to the applicant when the decision
requires one. Every refusal is one bilingual sentence that says what to do.
"""

from __future__ import annotations

from typing import Any

from pipeline.finance.lines import vocabulary


class DecisionError(ValueError):
    """A decision that cannot be stored as given; ``ja`` and ``en`` say why and what to do."""

    def __init__(self, ja: str, en: str) -> None:
        super().__init__(f"{ja} / {en}")
        self.ja, self.en = ja, en


def decisions() -> dict[str, dict[str, Any]]:
    return vocabulary()["decisions"]


def statuses() -> dict[str, dict[str, Any]]:
    return vocabulary()["statuses"]


def label(code: str) -> str:
    """A decision as the dropdown shows it: 認める approve."""
    d = decisions()[code]
    return f"{d['ja']} {d['en']}"


def status_label(code: str) -> str:
    s = statuses()[code]
    return f"{s['ja']} {s['en']}"


def parse_decision(text: Any) -> str | None:
    """The decision code for what a reviewer typed or picked (認める approve, 認める, approve); None if blank."""
    if text is None or not str(text).strip():
        return None
    typed = " ".join(str(text).split()).casefold()
    for code, d in decisions().items():
        if typed in {code, d["ja"].casefold(), d["en"].casefold(), label(code).casefold()}:
            return code
    choices = "、".join(label(c) for c in decisions())
    raise DecisionError(f"判断「{text}」は選択肢にありません（{choices}）",
                        f"'{text}' is not a decision; choose one of {', '.join(label(c) for c in decisions())}")


def yen(n: int | None) -> str:
    return "—" if n is None else f"{n:,}円"


def settle(decision: str, requested: int | None, allowed: Any, comment: str | None) -> int | None:
    """The allowed amount of ``decision`` on a line asking ``requested``; raises DecisionError if it cannot stand."""
    rule = decisions()[decision]
    if rule["comment"] and not (comment or "").strip():
        raise DecisionError(f"「{rule['ja']}」には申請者への連絡（理由）が必要です",
                            f"'{rule['en']}' needs a comment to the applicant saying why")
    if allowed is not None and str(allowed).strip() != "":
        try:
            amount = int(str(allowed).replace(",", "").replace("円", "").strip())
        except ValueError:
            raise DecisionError(f"認める額「{allowed}」は円の整数ではありません",
                                f"the allowed amount '{allowed}' is not a whole number of yen") from None
        if amount < 0:
            raise DecisionError(f"認める額 {yen(amount)} は負の額です", f"the allowed amount {yen(amount)} is negative")
        if requested is not None and amount > requested:
            raise DecisionError(f"認める額 {yen(amount)} が申請額 {yen(requested)} を超えています",
                                f"the allowed amount {yen(amount)} is more than the {yen(requested)} requested")
    else:
        amount = None
    kind = rule["allowed"]
    if kind == "all":
        if amount is not None and requested is not None and amount != requested:
            raise DecisionError(f"「{rule['ja']}」は申請額 {yen(requested)} のまま認めます。"
                                f"減額なら「{label('reduce')}」を選んでください",
                                f"'{rule['en']}' allows the {yen(requested)} requested; choose '{label('reduce')}' "
                                "to allow less")
        return requested
    if kind == "none":
        if amount:
            raise DecisionError(f"「{rule['ja']}」の認める額は0円です。"
                                f"一部を認めるなら「{label('reduce')}」を選んでください",
                                f"'{rule['en']}' allows nothing; choose '{label('reduce')}' to allow part of it")
        return 0
    if kind == "given":
        if amount is None:
            raise DecisionError(f"「{rule['ja']}」には認める額の記入が必要です",
                                f"'{rule['en']}' needs the amount allowed")
        return amount
    return None  # pending: nothing is allowed or cut until it is decided
