"""The API's routes for the root URLconf (``include("api.urls")``; namespace ``api``)."""

from django.urls import path

from .main import urlpatterns as api_patterns

urlpatterns = [path("", api_patterns())]
