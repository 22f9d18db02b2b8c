from functools import wraps

from django.contrib import admin
from django.db import router, transaction

from . import audit
from .models import AuditEvent

# What an edit in the admin is recorded as: ``<model>.<verb>_in_admin``.
ADMIN_VERBS = ("created", "changed", "deleted", "action_run")
# Admin actions audited on their own path (``delete_queryset``), not as an action.
UNWRAPPED_ACTIONS = {"delete_selected"}


def admin_action(model, verb: str) -> str:
    return audit.action(f"{model._meta.model_name}.{verb}_in_admin", where=__name__)


class AuditedModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose edits go into the audit log, like every other change: saves and
    deletes, the rows of its inlines, and list actions that write with ``update()`` (before
    and after of each row they changed; the action's name when it changed no row)."""

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        for audited in [model, *(inline.model for inline in self.inlines)]:
            for verb in ADMIN_VERBS:
                admin_action(audited, verb)

    def save_model(self, request, obj, form, change):
        before = None
        if change:
            before = audit.snapshot(type(obj)._default_manager.get(pk=obj.pk))
        super().save_model(request, obj, form, change)
        verb = "changed" if change else "created"
        audit.record(
            admin_action(obj, verb), obj, request=request, before=before, after=audit.snapshot(obj)
        )

    def delete_model(self, request, obj):
        before = audit.snapshot(obj)
        audit.record(admin_action(obj, "deleted"), obj, request=request, before=before)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def save_formset(self, request, form, formset, change):
        """An inline's rows (a department's memberships…): each one added, changed or deleted
        is an audit event of its own model."""
        model = formset.model
        pks = [f.instance.pk for f in formset.initial_forms if f.instance.pk is not None]
        before = {obj.pk: audit.snapshot(obj) for obj in model._default_manager.filter(pk__in=pks)}
        deleting = {id(f.instance): f.instance.pk for f in formset.deleted_forms}
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            audit.record(
                admin_action(obj, "created"), obj, request=request, after=audit.snapshot(obj)
            )
        for obj, _fields in formset.changed_objects:
            audit.record(
                admin_action(obj, "changed"), obj, request=request,
                before=before.get(obj.pk), after=audit.snapshot(obj),
            )  # fmt: skip
        for obj in formset.deleted_objects:  # deleted: Django has cleared their pk
            pk = deleting.get(id(obj))
            audit.record(
                admin_action(model, "deleted"), request=request, before=before.get(pk),
                object_type=model._meta.label_lower, object_id=str(pk or ""),
                object_repr=str(obj)[:254], department_id=getattr(obj, "department_id", None),
            )  # fmt: skip

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {
            name: (entry if name in UNWRAPPED_ACTIONS else (self._audited(*entry[:2]), *entry[1:]))
            for name, entry in actions.items()
        }

    def _audited(self, func, name: str):
        """An admin action, recorded: rows it changed with before/after, else that it ran."""

        @wraps(func)
        def run(modeladmin, request, queryset):
            model = queryset.model
            with transaction.atomic(using=router.db_for_write(model)):
                return changed_by(func, modeladmin, request, queryset, model)

        def changed_by(func, modeladmin, request, queryset, model):
            rows = {obj.pk: audit.snapshot(obj) for obj in queryset.select_for_update(of=("self",))}
            result = func(modeladmin, request, queryset)
            again = model._default_manager.filter(pk__in=list(rows))
            after = {obj.pk: audit.snapshot(obj) for obj in again}
            changed = [pk for pk in rows if after.get(pk) != rows[pk]]
            for obj in model._default_manager.filter(pk__in=changed):
                audit.record(
                    admin_action(model, "changed"), obj, request=request,
                    before=rows[obj.pk], after=after[obj.pk],
                )  # fmt: skip
            if not changed and rows:
                audit.record(
                    admin_action(model, "action_run"), request=request,
                    object_type=model._meta.label_lower,
                    after={"action": name, "objects": [str(pk) for pk in rows]},
                )  # fmt: skip
            return result

        return run


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never changed in the admin, for infra and superusers alike."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "actor_label",
        "action",
        "object_type",
        "object_repr",
        "ip_address",
    ]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "object_repr", "object_id"]
    date_hierarchy = "created_at"
