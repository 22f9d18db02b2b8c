from django.urls import path

from . import views

urlpatterns = [
    path("departments/", views.department_list, name="department_list"),
    path("departments/<slug:slug>/", views.department_detail, name="department_detail"),
]
