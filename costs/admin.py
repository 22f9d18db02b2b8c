from django.contrib import admin

from approvals.admin import RequestAdmin
from portal.admin import AuditedModelAdmin

from .models import BudgetAlert, BudgetRequest, IngestionState, MemberBudget


@admin.register(MemberBudget)
class MemberBudgetAdmin(AuditedModelAdmin):
    list_display = ["user", "department", "monthly_budget", "updated_at"]
    list_filter = ["department"]
    autocomplete_fields: list[str] = []
    raw_id_fields = ["user"]


@admin.register(IngestionState)
class IngestionStateAdmin(admin.ModelAdmin):
    list_display = ["source", "last_success_at", "last_failure_at", "rows_upserted"]
    readonly_fields = [f.name for f in IngestionState._meta.fields]


@admin.register(BudgetAlert)
class BudgetAlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "scope", "subject", "kind", "threshold", "spend", "budget"]
    list_filter = ["scope", "kind", "department"]
    readonly_fields = [f.name for f in BudgetAlert._meta.fields]


@admin.register(BudgetRequest)
class BudgetRequestAdmin(RequestAdmin):
    list_display = ["department", "requester", "monthly_budget", "status", "created_at"]
    list_filter = ["status", "department"]
