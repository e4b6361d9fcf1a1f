from django.urls import path

from support import views

urlpatterns = [
    path("sendings/<str:identifier>/urgent-cancel/", views.ticket_request, name="ticket_request"),
    path("support/tickets/", views.ticket_queue, name="ticket_queue"),
    path("support/tickets/<int:ticket_id>/", views.ticket_detail, name="ticket_detail"),
    path("support/tickets/<int:ticket_id>/stop/", views.ticket_stop, name="ticket_stop"),
    path("support/tickets/<int:ticket_id>/resume/", views.ticket_resume, name="ticket_resume"),
    path("support/tickets/<int:ticket_id>/decline/", views.ticket_decline, name="ticket_decline"),
]
