"""How every portal list answers filters it cannot apply: the same for the page, CSV and JSON.

The page shows what is wrong (400) instead of quietly listing everything; a CSV download is a
400 with the same messages as text, as the JSON API answers 400 with them as a body.
"""

from django.http import HttpResponse


def filter_error_lines(form) -> list[str]:
    lines = []
    for name, errors in form.errors.items():
        label = form.fields[name].label or name if name in form.fields else ""
        lines += [f"{label}: {error}" if label else str(error) for error in errors]
    return lines


def bad_filters_csv(form) -> HttpResponse:
    text = "These filters cannot be applied:\n" + "\n".join(filter_error_lines(form)) + "\n"
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
