from django.urls import path

from sendings import views

urlpatterns = [
    path("", views.home, name="home"),
]
