"""``genai-portal``: the portal's REST API from a terminal or a pipeline."""
