"""The base of every API view: writes refused on a read-only gateway, answers freed when sent."""

from django.conf import settings
from django.template.response import SimpleTemplateResponse
from rest_framework import exceptions, views, viewsets

from .errors import READ_ONLY_MESSAGE


class ReadOnlyGateway(exceptions.APIException):
    status_code = 503
    default_detail = READ_ONLY_MESSAGE
    default_code = "read_only"


class GatewayView:
    """Mixed into every API view, ours and simplejwt's (clients/tests/test_api_views.py checks).

    `read_only_gate`: with DATABASE_READ_ONLY=1 a request other than GET, HEAD or OPTIONS is
    refused before the view runs. A view whose POST records nothing on a read-only gateway
    (signing in) turns it off.

    Each answer is freed as soon as it is sent, not when the cyclic garbage collector next runs.
    DRF makes every answer a reference cycle: response.renderer_context holds the response itself
    and the view, and the view holds the response (view.response). CPython frees a cycle only when
    its cyclic collector gets to it, which in a worker holding all of Django can be hundreds of
    requests later, and each answer's body waits with it: with pages of 1000 clients (~0.5 MB of
    JSON) workers grew from 70 MB to 110 MB and more (bench/README.md). Once the body is rendered,
    nothing needs those links."""

    read_only_gate = True

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.read_only_gate and settings.DATABASE_READ_ONLY and request.method not in ("GET", "HEAD", "OPTIONS"):
            raise ReadOnlyGateway()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, SimpleTemplateResponse):
            response.add_post_render_callback(self._release_response)
        return response

    def _release_response(self, response):
        response.renderer_context = None
        self.__dict__.pop("response", None)


class APIView(GatewayView, views.APIView):
    pass


class ViewSet(GatewayView, viewsets.ViewSet):
    pass
