from django.urls import path

from . import views

urlpatterns = [
    path("departments/", views.department_list, name="department_list"),
    path("departments/<slug:slug>/", views.department_detail, name="department_detail"),
    path("directory/", views.directory, name="directory"),
    path("directory/sync/", views.directory_sync_now, name="directory_sync_now"),
    path("directory/runs/<int:pk>/", views.directory_run, name="directory_run"),
]
