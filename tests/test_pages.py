import pytest
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_is_served_with_a_labelled_form(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    content = response.content.decode()
    assert '<label for="id_username">Username</label>' in content
    assert "Content-Security-Policy" in response.headers


def test_home_requires_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_marketer_logs_in_and_sees_only_their_subaccount(client, marketer, outsider):
    response = client.post(
        reverse("login"), {"username": "marketer", "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "Spain" in content and "Elsewhere" not in content


def test_wrong_password_gets_a_clear_error(client, marketer):
    response = client.post(reverse("login"), {"username": "marketer", "password": "nope"})
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()
