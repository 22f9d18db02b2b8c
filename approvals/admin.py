from django.contrib import admin

from portal.admin import AuditedModelAdmin, ReadOnlyAdmin

from . import policies
from .models import ChatAccount, Delegation, Policy, PolicyStage, PolicyVersion, ReviewCampaign


class PolicyStageInline(admin.StackedInline):
    model = PolicyStage
    extra = 0
    autocomplete_fields = ["person", "fallback"]


class PolicyVersionInline(admin.TabularInline):
    model = PolicyVersion
    extra = 0
    fields = ["version", "created_at", "changed_by", "snapshot"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Policy)
class PolicyAdmin(AuditedModelAdmin):
    """Infra edits a department's stages here; every save that changes them is a new,
    audited version. Requests in flight keep the stages they were submitted with."""

    list_display = ["department", "version", "updated_at"]
    readonly_fields = ["version"]
    inlines = [PolicyStageInline, PolicyVersionInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        policies.record_version(form.instance, actor=request.user, request=request)


@admin.register(Delegation)
class DelegationAdmin(admin.ModelAdmin):
    list_display = ["delegator", "delegate", "starts_on", "ends_on", "ended_at", "reason"]

    def has_add_permission(self, request):
        return False  # created on the delegation page, where the rules are checked

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ChatAccount)
class ChatAccountAdmin(AuditedModelAdmin):
    list_display = ["user", "slack_user_id"]
    autocomplete_fields = ["user"]
    search_fields = ["user__email", "slack_user_id"]


@admin.register(ReviewCampaign)
class ReviewCampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "deadline", "at_deadline", "state", "started_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RequestAdmin(ReadOnlyAdmin):
    """Requests of every kind are read-only in the admin, for infra and superusers alike:
    status, owner, decisions and limits change only through the workflow (locked, checked,
    audited). Each kind's app registers its model with a subclass."""
