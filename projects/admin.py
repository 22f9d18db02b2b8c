from django.contrib import admin

from approvals.admin import RequestAdmin

from .models import TuningProject


@admin.register(TuningProject)
class TuningProjectAdmin(RequestAdmin):
    list_display = ["name", "requester", "department", "status", "fulfilment", "expires_at"]
    list_filter = ["status", "fulfilment", "department"]
    search_fields = ["name", "requester__email", "langfuse_project_id"]
