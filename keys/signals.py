"""Events the keys app tells higher apps about (receivers connect in their ``ready()``)."""

from django.dispatch import Signal

# A key's LiteLLM token was replaced (rotation), sent inside the rotation's transaction:
# ``key`` (the VirtualKey), ``old_token`` and ``new_token``. The cost rollups re-attribute
# what was ingested under the old token.
key_rotated = Signal()
