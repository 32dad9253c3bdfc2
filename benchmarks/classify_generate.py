"""Generate labelled cost lines in styles the project's corpus lacks: tests/data/eligibility/generated.tsv.

    python benchmarks/classify_generate.py [--out FILE] [--seed 2025]

Styles (the `style` column says which made each line):
  kana     a Japanese line of corpus.tsv as it is read, in hiragana, katakana or half-width katakana,
           with or without spaces between words (SudachiPy readings of its kanji words); label kept
  english  paraphrases from templates: an activity and a place (a tour of the old market), a ticket and
           a venue, a workshop and a craft, an occasion and a meal, a language and a lesson; and the
           neutralised forms a finance reviewer passes (a tour of the partner lab, an experiment workshop);
           India: costs the call does not fund (an honorarium, a meeting room) and the stay costs it does
  mixed    a Japanese word inside an English line (Kyoto 観光 tour, welcome パーティー)
  abbrev   English lines with the abbreviations of budget sheets (mtg, pax, w/, &, transpo)
  typo     an English line with one slip in a word of five letters or more (deletion, swap, doubling)

Labels are by construction, following tests/data/eligibility/README.md. The template vocabulary is
this file's own (places, crafts, venues people write about), not the lexicon's: the set measures whether
the lexicon's patterns generalise. The lexicon may be tuned on this set (it is derived from the tuning
corpus); never on holdout.tsv or independent.tsv. Deterministic for a seed; needs SudachiPy (a
dependency) for the kana style.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.eligibility.readings import kana_forms  # noqa: E402

DATA = ROOT / "tests" / "data" / "eligibility"
YOUTH, INSTR, INDIA = "nexus-ytec-youth-2025", "nexus-ytec-instructor-2025", "india-circulation-2025"
COLUMNS = ("program", "category", "description", "unit_price", "quantity", "verdict", "reason", "style")
_KANJI = re.compile(r"[\u4e00-\u9fff々〆ヶ]")

# ---- kana ------------------------------------------------------------------------------------------

class Kana:
    """Japanese text as it is read: each word with a kanji replaced by its reading (SudachiPy)."""

    def __init__(self) -> None:
        from sudachipy import Dictionary, SplitMode

        self._tokenizer = Dictionary(dict="core").tokenizer(SplitMode.C)

    def words(self, text: str) -> list[str]:
        out = []
        for m in self._tokenizer.tokenize(text):
            surface = m.surface()
            out.append(m.reading_form() if _KANJI.search(surface) else surface)
        return out

    def render(self, text: str, rnd: random.Random) -> str:
        parts = self.words(text)
        joined = (" " if rnd.random() < 0.4 else "").join(p for p in parts if p.strip())
        hiragana, katakana, half = kana_forms(joined)
        return rnd.choice((hiragana, katakana, half))


# ---- English templates (this file's own vocabulary) --------------------------------------------------

TOUR = ["tour", "guided tour", "day trip", "excursion", "outing", "walking tour", "boat trip", "half-day tour",
        "trip", "evening tour", "bus tour", "stroll"]
PLACES = ["the old market", "the night market", "the old town", "the historic district", "the floating market",
          "Chinatown", "the royal palace", "the ancient ruins", "a famous temple", "the waterfront",
          "the national park", "the waterfall", "the beach", "the island", "the lake", "the old quarter",
          "the hill station", "the tea plantation", "the cathedral", "the mountains", "the canals",
          "the heritage village", "the bazaar", "the pagodas", "the castle town", "the scenic coast"]
LANDMARKS = ["the famous temple", "the old pagoda", "the royal palace", "the ancient ruins", "the castle",
             "the great mosque", "the mausoleum", "the war memorial", "the cathedral", "the shrine",
             "the monument", "the fort"]
TICKETS = ["entrance tickets", "entry tickets", "admission", "entrance fee", "entry pass", "tickets", "one-day pass",
           "entry fee", "admission fee", "visitor passes"]
VENUES = ["the national museum", "the art gallery", "the aquarium", "the zoo", "the theme park", "the palace",
          "the temple", "the observation deck", "the botanical garden", "the science centre", "the ruins",
          "the castle", "the tower", "the wax museum", "the safari park", "the water park"]
CRAFTS = ["batik", "pottery", "weaving", "woodcarving", "lacquerware", "silk painting", "indigo dyeing",
          "calligraphy", "flower arranging", "traditional dance", "traditional music", "cooking", "paper-making",
          "silversmithing", "embroidery", "puppet-making", "mask painting", "drumming", "handicraft", "ceramics"]
CLASSES = ["workshop", "class", "lesson", "experience", "course", "session", "demonstration", "hands-on session",
           "program"]
OCCASIONS = ["welcome", "farewell", "closing", "celebration", "gala", "year-end", "reunion"]
MEALS = ["dinner", "party", "banquet", "drinks", "get-together", "BBQ", "luncheon", "buffet dinner"]
GIFTS = ["gifts", "thank-you gifts", "souvenirs", "mementos", "commemorative mugs", "commemorative plaques",
         "presents", "keepsakes", "gift boxes", "commemorative medals"]
WHOM = ["host professors", "participants", "the partner lab", "host families", "the visiting delegation",
        "invited students"]
LANGUAGES = ["Thai", "Vietnamese", "Indonesian", "Bahasa", "Malay", "Khmer", "Lao", "Burmese", "Tagalog",
             "Japanese", "English"]
LESSONS = ["lessons", "language course", "language class", "tuition", "crash course", "tutoring", "conversation class"]

# neutralised: what a finance reviewer passes
SCIENCE_PLACES = ["the partner lab", "the semiconductor plant", "the research institute", "the clean room",
                  "the synchrotron", "the company R&D centre", "the water treatment plant", "the partner university",
                  "the factory", "the test field"]
SCIENCE_CLASSES = ["experiment workshop", "hands-on workshop on data analysis", "programming class",
                   "lab safety training session", "microscopy hands-on session", "machine learning course",
                   "research ethics workshop", "instrument demonstration"]
OK_LINES = [
    ("III Travel", "Round-trip airfare {city}-Narita", 80_000), ("III Travel", "Hotel near campus, {n} nights", 9_000),
    ("III Travel", "Train tickets to the partner university", 14_000), ("III Travel", "Airport bus tickets", 1_300),
    ("IV Other", "Meeting room rental ({n} days)", 20_000), ("IV Other", "Working lunch at the project meeting", 1_000),
    ("IV Other", "Coffee break for the symposium", 500),
    ("II Honorarium", "Lecturer honorarium (guest lecture)", 30_000),
    ("IV Other", "Interpreter for the joint seminar", 40_000), ("I Goods", "Reagents (buffer, enzymes)", 15_000),
    ("IV Other", "Poster printing", 3_000), ("IV Other", "Shipping of samples", 12_000),
    ("III Travel", "Travel insurance for dispatched students", 5_000), ("III Travel", "Visa fees", 3_000),
]
CITIES = ["Hanoi", "Bangkok", "Jakarta", "Manila", "Kuala Lumpur", "Yangon", "Phnom Penh", "Vientiane", "Cebu", "Hue",
          "Chiang Mai", "Penang", "Bandung", "Da Nang", "Kyoto", "Nara", "Nikko", "Kamakura"]

INDIA_NOT_FUNDED = ["Honorarium for the guest lecture", "Meeting room rental", "Interpreter fee",
                    "Postage for documents", "Printing of posters", "Outsourced data entry",
                    "Part-time assistant wages", "Catering for the seminar", "Venue hire for the workshop",
                    "Business card printing", "Courier charges", "Recruitment advertisement"]
INDIA_FUNDED = ["Monthly stay allowance", "Rent (apartment near campus)", "Electricity, gas and water", "Groceries",
                "Mobile phone plan", "Overseas travel accident insurance (monthly)", "Dormitory fee",
                "Consumption tax equivalent", "Household items on arrival", "Internet at the residence",
                "Indian PI stay allowance (1 month)", "Hotel until the apartment is ready"]
INDIA_TRAVEL = ["Airfare {city}-Tokyo", "Flight ticket Delhi-Osaka", "Airport taxi on arrival",
                "Train to the conference", "Visa application fee", "Return flight home"]
INDIA_RESEARCH = ["Lab reagents", "Conference registration", "Open access publication fee", "Laptop for simulations",
                  "Journal subscription", "Sample analysis at an outside lab", "Proofreading of the manuscript"]
INDIA_CITIES = ["Delhi", "Mumbai", "Chennai", "Bengaluru", "Kolkata", "Hyderabad"]

ABBREVIATIONS = [(r"\bparticipants\b", "pax"), (r"\bmeeting\b", "mtg"), (r"\bwith\b", "w/"), (r"\band\b", "&"),
                 (r"\btransportation\b", "transpo"), (r"\binvited students\b", "invitees"),
                 (r"\bexcursion\b", "excur."), (r"\bapproximately\b", "approx."), (r"\bregistration\b", "reg.")]
MIXED = [  # (a Japanese word, an English frame, label)
    ("観光", "Kyoto {w} bus", ("ng", "sightseeing")), ("見学料", "{w} (museum)", ("ng", "admission")),
    ("懇親会", "Farewell {w} food & drinks", ("ng", "social")), ("記念品", "{w} for host lab", ("ng", "souvenir")),
    ("茶道", "{w} experience", ("ng", "cultural")), ("日本語", "{w} lessons", ("ng", "language")),
    ("パーティー", "welcome {w}", ("ng", "social")), ("お土産", "{w} for partners", ("ng", "souvenir")),
    ("金閣寺", "{w} entrance tickets", ("ng", "admission")), ("研究室", "{w} tour bus", ("ok", "")),
    ("企業見学", "{w} chartered bus", ("ok", "")), ("会議費", "{w} (working lunch)", ("ok", "")),
    ("航空券", "{w} Manila-Narita", ("ok", "")), ("謝金", "lecturer {w}", ("ok", "")),
]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def english_lines(rnd: random.Random) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []

    def add(program: str, category: str, text: str, price: int, verdict: str, reason: str, style: str = "english"
            ) -> None:
        rows.append({"program": program, "category": category, "description": text, "unit_price": f"{price:,}",
                     "quantity": str(rnd.randint(1, 15)), "verdict": verdict, "reason": reason, "style": style})

    nexus = (YOUTH, INSTR)
    for _ in range(40):
        tour, place = rnd.choice(TOUR), rnd.choice(PLACES)
        text = rnd.choice(["{t} of {p}", "{t} to {p}", "{t} around {p} for invited students", "Bus for the {t} to {p}",
                           "{t}, {p} ({c})"]).format(t=tour, p=place, c=rnd.choice(CITIES))
        add(rnd.choice(nexus), rnd.choice(["III Travel", "IV Other"]), _cap(text), rnd.randint(5, 80) * 100, "ng",
            "sightseeing")
    for _ in range(15):
        add(rnd.choice(nexus), "IV Other", f"Visit to {rnd.choice(LANDMARKS)} in {rnd.choice(CITIES)}",
            rnd.randint(0, 30) * 100, "ng", "sightseeing")
    for _ in range(35):
        text = rnd.choice(["{t} for {v}", "{v} {t}", "{t}: {v} ({c})"]).format(
            t=rnd.choice(TICKETS), v=rnd.choice(VENUES), c=rnd.choice(CITIES))
        add(rnd.choice(nexus), "IV Other", _cap(text), rnd.randint(3, 60) * 100, "ng", "admission")
    for _ in range(40):
        text = rnd.choice(["{c} {k}", "{k} in {c}", "Traditional {c} {k}", "{c} {k} for invited students",
                           "Culture experience {k} ({c})"]).format(c=rnd.choice(CRAFTS), k=rnd.choice(CLASSES))
        add(rnd.choice(nexus), "IV Other", _cap(text), rnd.randint(10, 60) * 100, "ng", "cultural")
    for _ in range(30):
        text = rnd.choice(["{o} {m}", "{o} {m} for invited students", "{o} {m} at the hotel"]).format(
            o=rnd.choice(OCCASIONS), m=rnd.choice(MEALS))
        add(rnd.choice(nexus), "IV Other", _cap(text), rnd.randint(20, 80) * 100, "ng", "social")
    for _ in range(25):
        add(rnd.choice(nexus), "IV Other", _cap(f"{rnd.choice(GIFTS)} for {rnd.choice(WHOM)}"),
            rnd.randint(5, 50) * 100, "ng", "souvenir")
    for _ in range(25):
        add(rnd.choice(nexus), "IV Other", f"{rnd.choice(LANGUAGES)} {rnd.choice(LESSONS)}",
            rnd.randint(50, 300) * 100, "ng", "language")
    for _ in range(30):   # neutralised activities: eligible
        text = rnd.choice(["{t} of {s}", "{t} to {s} (bus)", "Bus for the {t} to {s}", "{k}"]).format(
            t=rnd.choice(["tour", "visit", "site visit", "trip", "excursion"]), s=rnd.choice(SCIENCE_PLACES),
            k=rnd.choice(SCIENCE_CLASSES))
        add(rnd.choice(nexus), rnd.choice(["III Travel", "IV Other"]), _cap(text), rnd.randint(10, 900) * 100, "ok", "")
    for _ in range(30):
        category, text, price = rnd.choice(OK_LINES)
        add(rnd.choice(nexus), category, text.format(city=rnd.choice(CITIES), n=rnd.randint(2, 9)), price, "ok", "")
    for _ in range(25):
        add(INDIA, rnd.choice(["II Other", "I Stay", "II その他"]), rnd.choice(INDIA_NOT_FUNDED),
            rnd.randint(20, 500) * 100, "ng", "not_funded")
    for _ in range(25):
        add(INDIA, rnd.choice(["I Stay", "I 滞在費"]), rnd.choice(INDIA_FUNDED), rnd.randint(20, 2000) * 100, "ok", "")
    for _ in range(12):
        add(INDIA, "I Stay", rnd.choice(INDIA_TRAVEL).format(city=rnd.choice(INDIA_CITIES)),
            rnd.randint(50, 1200) * 100, "ng", "travel")
    for _ in range(12):
        add(INDIA, "I Stay", rnd.choice(INDIA_RESEARCH), rnd.randint(50, 1200) * 100, "ng", "research")
    for _ in range(8):
        add(INDIA, rnd.choice(["I Stay", "II Other"]), "", rnd.randint(10, 2000) * 100, "review", "not_funded")
    return rows


def typo(word: str, rnd: random.Random) -> str:
    i = rnd.randrange(1, len(word) - 1)
    kind = rnd.choice(("delete", "swap", "double"))
    if kind == "delete":
        return word[:i] + word[i + 1:]
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i] + word[i:]


def generate(seed: int) -> list[dict[str, str]]:
    from pipeline.eligibility.scoring import read_corpus

    rnd = random.Random(seed)
    kana = Kana()
    rows: list[dict[str, str]] = []
    for row in read_corpus(DATA / "corpus.tsv"):
        if _KANJI.search(row["description"]):
            rendered = kana.render(row["description"], rnd)
            if rendered != row["description"]:
                rows.append({**row, "description": rendered, "style": "kana"})
    english = english_lines(rnd)
    rows += english
    for jp, frame, (verdict, reason) in MIXED:
        for program in (YOUTH, INSTR):
            rows.append({"program": program, "category": "IV その他", "description": frame.format(w=jp),
                         "unit_price": f"{rnd.randint(5, 90) * 100:,}", "quantity": "10", "verdict": verdict,
                         "reason": reason, "style": "mixed"})
    described = [r for r in english if r["description"]]
    for row in rnd.sample(described, 60):
        text = row["description"]
        for pattern, short in ABBREVIATIONS:
            text = re.sub(pattern, short, text, flags=re.IGNORECASE)
        text = text if text != row["description"] else text + " incl. transpo"
        rows.append({**row, "description": text, "style": "abbrev"})
    for row in rnd.sample(described, 100):
        tokens = row["description"].split(" ")
        long = [i for i, t in enumerate(tokens) if len(t) >= 5 and t.isalpha()]
        if not long:
            continue
        i = rnd.choice(long)
        tokens[i] = typo(tokens[i], rnd)
        rows.append({**row, "description": " ".join(tokens), "style": "typo"})
    seen: set[tuple[str, str]] = set()
    unique = []
    for row in rows:
        key = (row["program"], row["description"])
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


def write(rows: list[dict[str, str]], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DATA / "generated.tsv")
    ap.add_argument("--seed", type=int, default=2025)
    args = ap.parse_args(argv)
    rows = generate(args.seed)
    write(rows, args.out)
    styles: dict[str, int] = {}
    for r in rows:
        styles[r["style"]] = styles.get(r["style"], 0) + 1
    print(f"{len(rows)} lines -> {args.out} ({', '.join(f'{k} {v}' for k, v in sorted(styles.items()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
