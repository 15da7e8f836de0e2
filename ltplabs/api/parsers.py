from django.conf import settings
from rest_framework import exceptions, parsers


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is larger than 1 MB."
    default_code = "request_too_large"


class LimitedJSONParser(parsers.JSONParser):
    """DRF's JSON parser reads the stream itself, past Django's body limit: check it here."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        try:
            size = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            size = 0
        if size > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise RequestTooLarge()
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json nests by recursion: a body of 100,000 brackets fits in 1 MB and is no 500.
            raise exceptions.ParseError("The request body is nested too deeply.") from None
        if not isinstance(data, dict):
            raise exceptions.ParseError("The request body must be a JSON object.")
        return data
