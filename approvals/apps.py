from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = _("Approvals")

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

        from portal import audit_display, context_processors
        from portal import home as portal_home
        from tenants import directory
        from tenants import panels as tenant_panels
        from tenants.models import Membership
        from tenants.signals import member_left

        from . import home, leavers, pending, policies, policy_history, waiting
        from .models import Delegation, RequestStage, StageDecision

        context_processors.PENDING_COUNT[:] = [pending.nav_count]
        context_processors.AFFECTED[:] = [pending.affected]
        portal_home.register(25, "approvals/home/approver.html", home.approver)
        # The department page shows the policy's versions; the audit log links to them.
        tenant_panels.register(tenant_panels.DEPARTMENT_DETAIL, policy_history.panel)
        for object_type in ("approvals.policy", "tenants.department"):
            audit_display.LINKS[object_type] = policy_history.link_policy_events
        # A leaver's open requests of every kind stop (each kind's app ends what is live).
        member_left.connect(leavers.on_member_left, dispatch_uid="approvals.cancel_open")
        # The directory sync reads the members of every group a stage names as approvers.
        directory.watch_groups(policies.approver_groups)

        # What waits for whom (approvals.pending) follows stages, votes, delegations and
        # memberships (led departments), as it follows the requests themselves.
        for model in (RequestStage, StageDecision, Delegation, Membership):
            for signal in (post_save, post_delete):
                signal.connect(
                    pending.forget, sender=model, dispatch_uid=f"pending-{model.__name__}"
                )
        m2m_changed.connect(
            pending.forget, sender=RequestStage.approvers.through, dispatch_uid="pending-approvers"
        )
        # The rows of what waits for whose decision follow the same changes, in their
        # transaction: a request of any registered kind, a stage, its approvers, a vote.
        post_save.connect(waiting.request_saved, dispatch_uid="waiting-request")
        post_delete.connect(waiting.request_deleted, dispatch_uid="waiting-request")
        post_save.connect(waiting.stage_changed, sender=RequestStage, dispatch_uid="waiting-stage")
        for signal in (post_save, post_delete):
            signal.connect(waiting.stage_changed, sender=StageDecision, dispatch_uid="waiting-vote")
        m2m_changed.connect(
            waiting.stage_changed,
            sender=RequestStage.approvers.through,
            dispatch_uid="waiting-approvers",
        )
        post_migrate.connect(waiting.after_migrate, sender=self, dispatch_uid="waiting-rebuild")
