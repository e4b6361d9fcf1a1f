from django.urls import path

from batches import views
from sendings import converters  # noqa: F401  (registers <id:>, <number:>, <identifier:>)

urlpatterns = [
    path(
        "sendings/<identifier:identifier>/batches/",
        views.sending_batches,
        name="sending_batches",
    ),
    path(
        "sendings/<identifier:identifier>/batches/<number:number>/cancel/",
        views.batch_cancel,
        name="batch_cancel",
    ),
]
