"""Every picture the README shows is in the repository (a renamed screenshot would leave a
broken image on the project's front page)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_picture_in_the_readme_exists():
    readme = (ROOT / "README.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert pictures, "the README shows the console's pictures"
    missing = [p for p in pictures if not p.startswith("http") and not (ROOT / p).is_file()]
    assert missing == []
