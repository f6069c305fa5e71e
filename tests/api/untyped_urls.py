"""An API endpoint with no declared types, for tests/api/test_schema.py's warning check."""

from django.urls import path

from antidote.restapi import ClinicApiView


class Untyped(ClinicApiView):
    def get(self, request):
        return None


urlpatterns = [path("api/v1/untyped/", Untyped.as_view())]
