from django.urls import path

from . import views

urlpatterns = [path("models/", views.catalogue, name="model_catalogue")]
