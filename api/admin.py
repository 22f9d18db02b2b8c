from django.contrib import admin

from .identities import save_service_identity
from .models import ServiceIdentity


@admin.register(ServiceIdentity)
class ServiceIdentityAdmin(admin.ModelAdmin):
    """Infra registers service principals here; every save goes through the audited action."""

    list_display = (
        "name",
        "app_id",
        "department",
        "can_request_keys",
        "can_read_costs",
        "can_manage_policies",
    )
    list_filter = ("department", "is_active")
    search_fields = ("name", "app_id")
    readonly_fields = ("user", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        save_service_identity(obj, actor=request.user, request=request)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: keys and audit rows keep pointing at it
