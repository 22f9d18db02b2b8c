"""Forms of the portal's own pages."""

from __future__ import annotations

from django import forms
from django.contrib import messages


class AuditFilterForm(forms.Form):
    """The audit log's filters. A value that cannot filter (a bad date, a NUL byte) is dropped."""

    action = forms.CharField(required=False, max_length=100)
    actor = forms.CharField(required=False, max_length=254)
    object_type = forms.CharField(required=False, max_length=100)
    since = forms.DateField(required=False)

    def filters(self) -> dict:
        """The valid filters, as the page shows them (strings; invalid ones empty)."""
        self.is_valid()
        return {name: str(self.cleaned_data.get(name) or "").strip() for name in self.fields}


def errors_as_messages(request, form: forms.Form) -> None:
    """A form posted from a page that shows no form: its errors as error messages."""
    for errors in form.errors.values():
        messages.error(request, " ".join(errors))
