from django.contrib import admin

from approvals.admin import RequestAdmin

from .models import ReconcileRun, VirtualKey


@admin.register(VirtualKey)
class VirtualKeyAdmin(RequestAdmin):
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
    # The encrypted secret is never shown (editable=False keeps it off the form).


@admin.register(ReconcileRun)
class ReconcileRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "finished_at", "teams_checked", "keys_checked", "error"]

    def has_change_permission(self, request, obj=None):
        return False
