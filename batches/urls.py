from django.urls import path

from batches import views

urlpatterns = [
    path(
        "sendings/<str:identifier>/batches/",
        views.sending_batches,
        name="sending_batches",
    ),
    path(
        "sendings/<str:identifier>/batches/<int:number>/cancel/",
        views.batch_cancel,
        name="batch_cancel",
    ),
]
