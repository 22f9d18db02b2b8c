from django.contrib import admin

from .models import PipelineExchange, PipelineIdentity
from .requests import submit


@admin.register(PipelineIdentity)
class PipelineIdentityAdmin(admin.ModelAdmin):
    list_display = ("name", "department", "issuer", "status", "max_live_keys", "daily_budget")
    list_filter = ("status", "department")
    search_fields = ("name", "issuer")
    readonly_fields = ("status", "requester", "decided_by", "decided_at", "activated_at",
                       "expires_at", "steps")  # fmt: skip

    def has_add_permission(self, request) -> bool:
        """Infra registers identities here (submitted through the workflow, below); like every
        request, an identity never changes in the admin afterwards."""
        return bool(request.user.is_active and request.user.is_infra)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        """A new identity is a request like any other: submitted (audited, the department's
        leads told), never active until approved and provisioned."""
        obj.requester = request.user
        submit(obj, request=request)


@admin.register(PipelineExchange)
class PipelineExchangeAdmin(admin.ModelAdmin):
    list_display = ("created_at", "identity", "outcome", "repository", "run_id", "source_ip")
    list_filter = ("outcome",)
    search_fields = ("repository", "run_id", "sha")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
