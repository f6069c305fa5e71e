"""What billing announces to the apps above it, which it never imports."""

from django.dispatch import Signal

# Sent after the transaction that added credits commits; kwargs: clinic_id, entry.
credits_added = Signal()
