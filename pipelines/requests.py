"""The approval engine's request base, lifecycle and registry, as this app uses them.

The one place ``pipelines`` imports them from: when the request base moves, only these
imports change."""

from approvals import registry  # noqa: F401
from keys.lifecycle import (  # noqa: F401
    ENDED_STATUSES,
    LifecycleQuerySet,
    Request,
    Status,
    register_tasks,
)
from keys.services import ensure_team, team_id_for  # noqa: F401
from keys.tasks import run_provisioning  # noqa: F401,E402
from keys.views import decide  # noqa: F401,E402  (the shared decision page)
from keys.workflow import expire_pending, finish_approval, finish_rejection, submit  # noqa: F401
