"""``--output table|json|csv``."""

from __future__ import annotations

import json
import sys


def emit(data, fmt: str, columns: list[str] | None = None, out=None) -> None:
    out = out or sys.stdout
    rows = data if isinstance(data, list) else [data]
    if fmt == "json":
        print(json.dumps(data, indent=2, default=str), file=out)
        return
    columns = columns or (list(rows[0]) if rows else [])
    if fmt == "csv":
        # The portal's one CSV rule (imported here: the other formats need none of it).
        from portal.csv_safe import Writer

        writer = Writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)), file=out)
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip(), file=out)
    if not rows:
        print("(none)", file=out)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def client_settings(secret: dict, out=None) -> None:
    """After a reveal: the settings for the OpenAI SDK and Cline."""
    out = out or sys.stdout
    s = secret.get("settings", {})
    base = secret.get("base_url", "")
    print(f"\nSecret (shown once, store it now): {secret['secret']}\n", file=out)
    print("OpenAI SDK / curl:", file=out)
    print(f"  export OPENAI_BASE_URL={base}", file=out)
    print(f"  export OPENAI_API_KEY={secret['secret']}", file=out)
    print("Cline (VS Code): API Provider 'OpenAI Compatible'", file=out)
    print(f"  Base URL: {s.get('cline.openAiBaseUrl', base)}", file=out)
    print(f"  API Key:  {secret['secret']}", file=out)
