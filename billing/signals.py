"""What billing announces to the apps above it, which it never imports."""

from django.dispatch import Signal

# Sent after the transaction that added credits commits; kwargs: clinic_id, entry.
credits_added = Signal()

# Sent after the transaction that raised a clinic's overdraft limit commits; kwargs: clinic_id.
# More room to spend, as new credits are: waiting leads may now be charged.
overdraft_raised = Signal()

# Sent after the transaction that lowered a balance commits; kwargs: clinic_id, balance (after
# the entry), credits (negative). Whoever keeps a level above billing (payments' automatic
# top-up) decides from it whether the level was crossed; billing never learns who listens.
balance_lowered = Signal()

# Sent after the transaction that gave a clinic's budget more room commits (a cap raised or
# removed, a pause ended); kwargs: clinic_id. Leads waiting over budget may now be charged.
budget_raised = Signal()
