from django.urls import path

from . import views

urlpatterns = [
    path("approvals/projects/<int:pk>/", views.decide_project, name="decide_project"),
    path("projects/", views.my_projects, name="my_projects"),
    path("projects/request/", views.request_project, name="request_project"),
    path("projects/<int:pk>/", views.project_detail, name="project_detail"),
    path("projects/<int:pk>/reveal/", views.reveal_project, name="reveal_project"),
    path("projects/<int:pk>/end/", views.end_project, name="end_project"),
    path("projects/<int:pk>/fulfil/", views.fulfil_project, name="fulfil_project"),
    path("projects/<int:pk>/teardown-done/", views.confirm_teardown, name="confirm_teardown"),
]
