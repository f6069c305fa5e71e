"""Request parsers for the JSON endpoints: malformed bodies are a 400, however they are bad."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus bodies nested deeper than Python's recursion limit.

    DRF turns a ValueError from the json module into a 400, but ``[[[[…`` 5,000 deep makes the
    decoder raise RecursionError, which became a 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise ParseError("JSON parse error - the body is nested too deeply.") from error
