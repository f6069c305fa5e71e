"""Form fields shared by the admin and the portal."""

import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError

from antidote.money import format_paise

# Enough for any price we sell and far below a bigint of paise.
MAX_RUPEES = 10**11


class RupeesField(forms.Field):
    """Shows and takes rupees (``5000``, ``5,000.50``, ``₹1,00,000``); cleans to integer paise.

    Staff think in rupees; the models keep integer paise (DESIGN: no float touches money), so
    the conversion happens here, once, with Decimal. At most two decimal places: "0.001" is a
    clear error, never rounded.
    """

    widget = forms.TextInput
    default_error_messages = {
        "invalid": "Enter an amount in rupees, such as 5000 or 5,000.50.",
        "decimals": "Rupees have at most two decimal places (paise).",
        "negative": "The amount cannot be negative.",
        "too_big": f"The amount is more than ₹{MAX_RUPEES:,}.",
    }

    def __init__(self, *, max_value=None, min_value=None, **kwargs):
        # A model's paise bounds (as formfield() passes them) mean nothing in rupees.
        kwargs.pop("max_digits", None)
        kwargs.pop("decimal_places", None)
        super().__init__(**kwargs)

    def widget_attrs(self, widget):
        return {**super().widget_attrs(widget), "inputmode": "decimal", "size": 14}

    def prepare_value(self, value):
        """Paise from the row (an int) as plain rupees; typed text stays as it was typed."""
        if isinstance(value, int) and not isinstance(value, bool):
            rupees, paise = divmod(value, 100)
            return f"{rupees}.{paise:02d}" if paise else str(rupees)
        return value

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # already paise (a row's initial value)
        text = re.sub(r"[\s,₹]", "", str(value)).removeprefix("Rs.").removeprefix("Rs")
        if not re.fullmatch(r"-?\d+(\.\d*)?", text or "x"):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            rupees = Decimal(text)
        except InvalidOperation as error:  # pragma: no cover - the pattern already refused it
            raise ValidationError(self.error_messages["invalid"], code="invalid") from error
        if rupees < 0:
            raise ValidationError(self.error_messages["negative"], code="negative")
        if rupees > MAX_RUPEES:
            raise ValidationError(self.error_messages["too_big"], code="too_big")
        paise = rupees * 100
        if paise != paise.to_integral_value():
            raise ValidationError(self.error_messages["decimals"], code="decimals")
        return int(paise)


def rupees_help(paise: int | None) -> str:
    return f"Now {format_paise(paise)}." if paise is not None else ""
