"""The form of a key extension: how many more days, and why."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from . import extensions
from .models import VirtualKey


class ExtensionForm(forms.Form):
    days = forms.IntegerField(
        label=_("More days"),
        min_value=1,
        max_value=3650,
        help_text=_("Added to the key's current expiry."),
    )
    justification = forms.CharField(label=_("Justification"), widget=forms.Textarea)

    def __init__(self, *args, key: VirtualKey, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.key, self.user = key, user
        self.fields["days"].initial = min(30, key.department.max_key_lifetime_days)

    def clean(self) -> dict:
        cleaned = super().clean()
        days = cleaned.get("days")
        if days is not None:
            reason = extensions.refusal(self.key, self.user, days)
            if reason:
                self.add_error("days", reason)
        return cleaned

    def new_expiry(self):
        days = self.cleaned_data.get("days") if self.is_bound and self.is_valid() else None
        return extensions.new_expiry(self.key, days or self.fields["days"].initial)
