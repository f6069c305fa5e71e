"""What leads announce to the apps that stand on them, inside the transaction that did it."""

from django.dispatch import Signal

# A waiting or new lead was charged: its billing state is now ``charged`` (kwargs: ``lead``).
# Sent once per lead, in the charging transaction, after the lead row is saved.
lead_charged = Signal()
