from django.urls import path

from sendings import converters  # noqa: F401  (registers <id:>, <number:>, <identifier:>)
from sendings.contacts import views as contacts_views
from sendings.pages import followups as followup_views
from sendings.pages import language as language_views
from sendings.pages import views
from sendings.recipients import views as recipient_views
from sendings.unsubscribe import views as unsubscribe_views
from sendings.wizard import views as wizard_views

urlpatterns = [
    path("", views.home, name="home"),
    # The top bar's language menu (signed in or not: the login page has it too)
    path("language/", language_views.language_set, name="language_set"),
    # One-click unsubscribe (public: the signed token is the credential; the view answers
    # 400 to anything it did not sign)
    path("u/<str:token>/", unsubscribe_views.unsubscribe, name="unsubscribe"),
    path("subaccounts/<id:subaccount_id>/sendings/", views.sending_list, name="sending_list"),
    path("sendings/<identifier:identifier>/", views.sending_detail, name="sending_detail"),
    path("sendings/<identifier:identifier>/row/", views.sending_row, name="sending_row"),
    path("sendings/<identifier:identifier>/cancel/", views.sending_cancel, name="sending_cancel"),
    path(
        "sendings/<identifier:identifier>/recipients.csv",
        recipient_views.recipients_export,
        name="recipients_export",
    ),
    path(
        "sendings/<identifier:identifier>/resend/",
        followup_views.sending_resend,
        name="sending_resend",
    ),
    path(
        "sendings/<identifier:identifier>/correction/",
        followup_views.sending_correction,
        name="sending_correction",
    ),
    path(
        "sendings/<identifier:identifier>/unschedule/",
        followup_views.sending_unschedule,
        name="sending_unschedule",
    ),
    # The "New sending" wizard
    path(
        "subaccounts/<id:subaccount_id>/sendings/new/",
        wizard_views.sending_new,
        name="sending_new",
    ),
    path("sendings/<identifier:identifier>/edit/", wizard_views.sending_edit, name="sending_edit"),
    *(
        path(
            f"sendings/<identifier:identifier>/edit/{step.slug}/",
            getattr(wizard_views, step.url_name),
            name=step.url_name,
        )
        for step in wizard_views.STEPS
    ),
    path(
        "sendings/<identifier:identifier>/edit/contacts/count/",
        wizard_views.wizard_audience,
        name="wizard_audience",
    ),
    path(
        "sendings/<identifier:identifier>/duplicate/",
        wizard_views.sending_duplicate,
        name="sending_duplicate",
    ),
    # Contacts, lists and CSV imports
    path(
        "subaccounts/<id:subaccount_id>/lists/",
        contacts_views.contact_lists,
        name="contact_lists",
    ),
    path(
        "subaccounts/<id:subaccount_id>/contacts/",
        contacts_views.contact_index,
        name="contact_index",
    ),
    path("lists/<id:list_id>/", contacts_views.contact_list_detail, name="contact_list_detail"),
    path(
        "lists/<id:list_id>/rename/",
        contacts_views.contact_list_rename,
        name="contact_list_rename",
    ),
    path(
        "lists/<id:list_id>/import/",
        contacts_views.contact_import_upload,
        name="contact_import_upload",
    ),
    path(
        "imports/<id:import_id>/",
        contacts_views.contact_import_detail,
        name="contact_import_detail",
    ),
    path(
        "contacts/<id:contact_id>/unsubscribe/",
        contacts_views.contact_unsubscribe,
        name="contact_unsubscribe",
    ),
    path(
        "contacts/<id:contact_id>/bounce/clear/",
        contacts_views.contact_bounce_clear,
        name="contact_bounce_clear",
    ),
]
