"""Events of this app that higher apps act on (they connect in their ``AppConfig.ready()``),
so tenants never imports keys or costs."""

from django.dispatch import Signal

# A person left: no department any more, or the account was disabled or deleted in Entra ID.
# Sent inside the directory sync's transaction with ``user``, ``reason``, ``departments`` (the
# ones they were in) and ``actor``. Receivers stop what the person had and return a dict of
# lists naming what they did, for the sync's report.
member_left = Signal()

# Infra changed a department's monthly budget (sent inside the transaction, with
# ``department``); LiteLLM's team budget must follow once it is committed.
department_budget_changed = Signal()
