from django.urls import path

from sendings import converters  # noqa: F401  (registers <id:>, <number:>, <identifier:>)
from support import views

urlpatterns = [
    path(
        "sendings/<identifier:identifier>/urgent-cancel/",
        views.ticket_request,
        name="ticket_request",
    ),
    path("support/tickets/", views.ticket_queue, name="ticket_queue"),
    path("support/tickets/<id:ticket_id>/", views.ticket_detail, name="ticket_detail"),
    path("support/tickets/<id:ticket_id>/stop/", views.ticket_stop, name="ticket_stop"),
    path("support/tickets/<id:ticket_id>/resume/", views.ticket_resume, name="ticket_resume"),
    path("support/tickets/<id:ticket_id>/decline/", views.ticket_decline, name="ticket_decline"),
]
