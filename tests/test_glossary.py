"""One name per idea in Japanese: every catalogue entry whose English names an idea in
``locale/ja/glossary.tsv`` uses that idea's Japanese and none of the names it replaced."""

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
