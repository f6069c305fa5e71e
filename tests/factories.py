"""factory-boy factories. Money never comes from a factory: credits are granted via services."""

import uuid

import factory
from django.contrib.auth import get_user_model

from billing import services as billing
from leads.models import Clinic, ClinicMember, Lead, Package


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class StaffFactory(UserFactory):
    is_staff = True


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Clinic {n}")
    slug = factory.Sequence(lambda n: f"clinic-{n}")
    city = "Mumbai"
    contact_email = factory.Sequence(lambda n: f"clinic{n}@example.com")

    @factory.post_generation
    def billing_state(obj, create, extracted, **kwargs):
        """The GST billing state ("27", Maharashtra, unless given); ``billing_state=""``
        makes a clinic that has not told us yet."""
        from payments.models import ClinicTaxDetails

        state = "27" if extracted is None else extracted
        if create and state:
            ClinicTaxDetails.objects.create(clinic=obj, state_code=state)


class ClinicMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicMember

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    role = ClinicMember.Role.OWNER


class PackageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Package

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Treatment {n}")
    price_paise = 3_000_00


class LeadFactory(factory.django.DjangoModelFactory):
    """A lead with its price snapshot taken from the tier table, not yet charged (held)."""

    class Meta:
        model = Lead

    clinic = factory.SubFactory(ClinicFactory)
    package = None
    patient_name = "Asha Patel"
    phone = factory.Sequence(lambda n: f"+9198{n:08d}")
    package_price_paise = factory.LazyAttribute(
        lambda o: o.package.price_paise if o.package else None
    )
    tier_min_price_paise = factory.LazyAttribute(
        lambda o: (
            billing.quote_lead_price(package_price_paise=o.package_price_paise).tier_min_price_paise
        )
    )
    price_credits = factory.LazyAttribute(lambda o: billing.lead_cost(o.package_price_paise))


def fund(clinic, credits, key=None):
    """Give a clinic purchased credits through the service."""
    return billing.grant_credits(
        clinic=clinic,
        credits=credits,
        idempotency_key=key or f"test-purchase:{uuid.uuid4()}",
    )


def paid_order(*, clinic, user, amount: int):
    """A top-up order paid through the test-mode checkout, as a clinic's browser pays it."""
    from payments import gateway as payment_gateway
    from payments import services as payments

    order = payments.create_order(
        clinic=clinic, user=user, quote=payments.quote_topup(clinic=clinic, amount=amount)
    )
    gateway = payment_gateway.TestModeGateway()
    payments.verify_payment(
        clinic=clinic,
        razorpay_order_id=order.razorpay_order_id,
        razorpay_payment_id=gateway.payment_id_for(order.razorpay_order_id),
        razorpay_signature=gateway.checkout_signature(order.razorpay_order_id),
    )
    return order
