from django.contrib import admin

from .models import ModelAccessRequest


@admin.register(ModelAccessRequest)
class ModelAccessRequestAdmin(admin.ModelAdmin):
    """Read-only: requests change through their approvals, never by hand."""

    list_display = ["model_name", "change", "department", "requester", "status", "created_at"]
    list_filter = ["status", "change", "department"]
    search_fields = ["model_name", "requester__email"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
