from django.urls import path

from sendings import views

urlpatterns = [
    path("", views.home, name="home"),
    path("subaccounts/<int:subaccount_id>/sendings/", views.sending_list, name="sending_list"),
    path("sendings/<str:identifier>/", views.sending_detail, name="sending_detail"),
    path("sendings/<str:identifier>/row/", views.sending_row, name="sending_row"),
    path("sendings/<str:identifier>/cancel/", views.sending_cancel, name="sending_cancel"),
]
