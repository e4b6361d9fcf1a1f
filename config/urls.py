from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from config import health

handler500 = "config.errors.server_error_or_unavailable"

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    # The static/js strings in the active language (locale/<code>/LC_MESSAGES/djangojs.po
    # only: "sendings" has no locale directory of its own, and naming it keeps the admin's
    # JavaScript catalogs out).
    path(
        "jsi18n/",
        JavaScriptCatalog.as_view(packages=["sendings"]),
        name="javascript_catalog",
    ),
    path("admin/", admin.site.urls),
    path("", include("sendings.urls")),
    path("", include("batches.urls")),
    path("", include("support.urls")),
]
