from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from sendings import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    subaccounts = selectors.subaccount_overview_for_user(user=request.user)
    return render(request, "sendings/home.html", {"subaccounts": subaccounts})
