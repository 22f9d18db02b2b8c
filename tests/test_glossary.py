"""One name per idea in Japanese: every catalogue entry whose English names an idea in
``locale/ja/glossary.tsv`` uses that idea's Japanese and none of the names it replaced."""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.translation import trans_real

GLOSSARY = Path(__file__).resolve().parent.parent / "locale" / "ja" / "glossary.tsv"


def rows() -> list[tuple[str, str, list[str]]]:
    lines = [line for line in GLOSSARY.read_text(encoding="utf-8").splitlines() if line]
    table = [line.split("\t") for line in lines if not line.startswith("#")]
    assert table[0] == ["en", "ja", "avoid"]
    return [(en, ja, avoid.split(",")) for en, ja, avoid in table[1:]]


@pytest.fixture(scope="module")
def catalogue() -> list[tuple[str, str]]:
    with translation.override("ja"):
        entries = trans_real.translation("ja")._catalog.items()
    return [(k[0] if isinstance(k, tuple) else k, v) for k, v in entries if k]


@pytest.mark.parametrize(("en", "ja", "avoid"), rows(), ids=lambda v: str(v)[:20])
def test_catalogue_follows_the_glossary(catalogue, en, ja, avoid):
    pattern = re.compile(en, re.IGNORECASE)
    named = [(msgid, msgstr) for msgid, msgstr in catalogue if pattern.search(msgid)]
    assert named, f"no catalogue entry says {en!r}: a glossary row about nothing"
    wrong = [(msgid, msgstr) for msgid, msgstr in named if any(a in msgstr for a in avoid)]
    assert wrong == [], f"{en!r} is {ja!r} in Japanese, not {avoid}"
    assert any(ja in msgstr for _, msgstr in named), f"{ja!r} is never used for {en!r}"


def po_entries(path: Path) -> dict:
    """``(msgctxt, msgid)`` or ``(msgctxt, msgid, n)`` → translation, from a .po file (the
    header and fuzzy entries left out), read as gettext's own compiler reads it."""
    entries, current, field = {}, {}, None

    def flush():
        if current.get("msgid") and "fuzzy" not in current.get("flags", ""):
            ctxt = current.get("msgctxt")
            key = f"{ctxt}\x04{current['msgid']}" if ctxt is not None else current["msgid"]
            for name, text in current.items():
                if name == "msgstr":
                    entries[key] = text
                elif name.startswith("msgstr["):
                    entries[(key, int(name[7:-1]))] = text
        current.clear()

    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            flush()
        elif line.startswith("#,"):
            current["flags"] = line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            current[field] += ast.literal_eval(line)
        else:
            field, _, quoted = line.partition(" ")
            if field == "msgid" and "msgid" in current and "msgstr" in current:
                flush()
            current[field] = ast.literal_eval(quoted)
    return {k: v for k, v in entries.items() if v}


def test_the_compiled_catalogue_is_the_po_file():
    """A merge can leave ``django.mo`` from one side: every translation in the .po must be the
    one the compiled catalogue serves (run ``manage.py compilemessages`` after editing)."""
    locale = GLOSSARY.parent / "LC_MESSAGES"
    with (locale / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)._catalog
    expected = po_entries(locale / "django.po")
    stale = {k: v for k, v in expected.items() if compiled.get(k) != v}
    assert stale == {}, f"{len(stale)} entries differ from django.mo, e.g. {list(stale)[:3]}"
