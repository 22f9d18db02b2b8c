from django.contrib import admin

from .models import PipelineExchange, PipelineIdentity


@admin.register(PipelineIdentity)
class PipelineIdentityAdmin(admin.ModelAdmin):
    list_display = ("name", "department", "issuer", "status", "max_live_keys", "daily_budget")
    list_filter = ("status", "department")
    search_fields = ("name", "issuer")
    readonly_fields = ("status", "decided_by", "decided_at", "activated_at", "expires_at", "steps")


@admin.register(PipelineExchange)
class PipelineExchangeAdmin(admin.ModelAdmin):
    list_display = ("created_at", "identity", "outcome", "repository", "run_id", "source_ip")
    list_filter = ("outcome",)
    search_fields = ("repository", "run_id", "sha")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
