"""Buying credits. The Razorpay checkout lands with the payments issue; until then the one
"Top up credits" button leads to an honest page instead of a 404 or 405."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from antidote.portal import clinic_member_required


@require_GET
@clinic_member_required
def topup(request):
    return render(request, "payments/topup_coming_soon.html")
