from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from portal.admin import AuditedModelAdmin

from . import admin_schedules  # noqa: F401  (the periodic schedules, audited)
from .models import POLICY_LIMIT_FIELDS, Department, Membership, SyncRun, User
from .signals import department_budget_changed


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Department)
class DepartmentAdmin(AuditedModelAdmin):
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "monthly_budget" in form.changed_data and obj.litellm_team_id:
            # LiteLLM enforces the new budget once a worker has pushed it to the team.
            department_budget_changed.send(sender=Department, department=obj)

    list_display = ["name", "slug", "cost_centre", "monthly_budget", "litellm_team_id"]
    search_fields = ["name", "slug", "cost_centre"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "cost_centre", "monthly_budget"]}),
        (
            _("Entra ID groups"),
            {"fields": ["member_group_id", "lead_group_id", "approver_rule"]},
        ),
        (
            _("Policy"),
            {"fields": POLICY_LIMIT_FIELDS},
        ),
        (_("LiteLLM"), {"fields": ["litellm_team_id"]}),
    ]


@admin.register(User)
class PortalUserAdmin(UserAdmin, AuditedModelAdmin):
    list_display = ["username", "display_name", "email", "is_infra", "is_active", "last_login"]
    list_filter = ["is_infra", "is_active", "groups_overage"]
    search_fields = ["username", "email", "display_name", "entra_oid"]
    fieldsets = [
        *UserAdmin.fieldsets,
        (
            _("Entra ID"),
            {
                "fields": [
                    "entra_oid",
                    "entra_tenant_id",
                    "display_name",
                    "entra_groups",
                    "groups_overage",
                    "is_infra",
                ]
            },
        ),
    ]
    readonly_fields = ["entra_oid", "entra_tenant_id", "entra_groups", "groups_overage"]
    # Rights come from Entra groups; only a break-glass superuser may touch them here.
    RIGHTS = ["is_superuser", "is_staff", "is_infra", "groups", "user_permissions", "password"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else fields + self.RIGHTS


@admin.register(Membership)
class MembershipAdmin(AuditedModelAdmin):
    list_display = ["user", "department", "role", "source"]
    list_filter = ["role", "source", "department"]
    search_fields = ["user__email", "user__display_name", "department__name"]
    autocomplete_fields = ["user", "department"]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    """Read-only: runs are written by the sync alone."""

    list_display = ["pk", "started_at", "finished_at", "status", "triggered_by", "counts"]
    list_filter = ["status"]
    readonly_fields = [
        "started_at",
        "finished_at",
        "status",
        "triggered_by",
        "counts",
        "changes",
        "error",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
