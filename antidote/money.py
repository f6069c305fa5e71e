"""Formatting money at the edge. Amounts stay integers (credits, paise) everywhere else."""


def format_paise(paise: int | None) -> str:
    """``123456`` → ``₹1,234.56``; whole rupees drop the paise (``₹5,000``)."""
    if paise is None:
        return "—"
    sign = "-" if paise < 0 else ""
    rupees, rest = divmod(abs(paise), 100)
    return f"{sign}₹{rupees:,}" + (f".{rest:02d}" if rest else "")
