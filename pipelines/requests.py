"""The approval engine's request base, lifecycle and registry, as this app uses them.

The one place ``pipelines`` imports them from: when the request base moves, only these
imports change."""

from approvals import panels as approval_panels  # noqa: F401
from approvals import registry  # noqa: F401
from approvals.decision import PolicyCheck  # noqa: F401
from approvals.lifecycle import ENDED_STATUSES, LifecycleQuerySet, Request, Status  # noqa: F401
from approvals.pages import perform, report_progress  # noqa: F401
from approvals.tasks import run_provisioning  # noqa: F401
from approvals.views_decide import decide  # noqa: F401  (the shared decision page)
from approvals.workflow import submit  # noqa: F401
from keys.services import ensure_team, team_id_for  # noqa: F401
