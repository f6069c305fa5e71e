from django import forms

from notifications.models import SUBSCRIBABLE
from notifications.services import HUMAN_CHANNELS

EVENT_CHOICES = [(t.value, t.label) for t in SUBSCRIBABLE]


class EndpointForm(forms.Form):
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https")
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple, label="Events"
    )


def preference_field_names(event_type: str, channel: str) -> tuple[str, str]:
    key = f"{event_type.replace('.', '_')}__{channel}"
    return f"{key}__on", f"{key}__to"


class PreferencesForm(forms.Form):
    """One switch and one recipients box per event and channel."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for event_type in SUBSCRIBABLE:
            for channel in HUMAN_CHANNELS:
                on, to = preference_field_names(event_type, channel)
                self.fields[on] = forms.BooleanField(required=False)
                self.fields[to] = forms.CharField(required=False, max_length=500)

    def cells(self):
        for event_type in SUBSCRIBABLE:
            for channel in HUMAN_CHANNELS:
                on, to = preference_field_names(event_type, channel)
                yield event_type, channel, self.cleaned_data[on], self.cleaned_data[to]
