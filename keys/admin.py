from django.contrib import admin

from portal.admin import AuditedModelAdmin

from .models import ReconcileRun, VirtualKey


@admin.register(VirtualKey)
class VirtualKeyAdmin(AuditedModelAdmin):
    list_display = [
        "name",
        "requester",
        "department",
        "status",
        "secret_last4",
        "expires_at",
        "drift",
    ]
    list_filter = ["status", "kind", "department"]
    search_fields = ["name", "requester__email", "litellm_key_id"]
    # The encrypted secret is not editable and not shown (editable=False keeps it off the form).
    readonly_fields = [
        "litellm_key_id",
        "secret_last4",
        "secret_revealed_at",
        "steps",
        "attempts",
        "last_error",
    ]
    raw_id_fields = ["requester", "decided_by", "extends"]


@admin.register(ReconcileRun)
class ReconcileRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "finished_at", "teams_checked", "keys_checked", "error"]

    def has_change_permission(self, request, obj=None):
        return False
