"""Tenant isolation: a user outside a subaccount gets nothing of it."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from sendings import selectors
from sendings.pages import selectors as list_selectors
from sendings.tenancy.selectors import membership_get, subaccounts_for_user
from tests.factories import MembershipFactory, SendingFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mine(subaccount):
    return SendingFactory(subaccount=subaccount, name="Mine")


@pytest.fixture
def theirs(other_subaccount):
    return SendingFactory(subaccount=other_subaccount, name="Theirs")


def test_members_see_their_subaccounts_sendings(marketer, viewer, subaccount, mine, theirs):
    for user in (marketer, viewer):
        assert list(subaccounts_for_user(user=user)) == [subaccount]
        membership = membership_get(user=user, subaccount_id=subaccount.pk)
        assert list_selectors.sending_page(subaccount_id=membership.subaccount_id).rows == [mine]
        assert selectors.sending_get(user=user, identifier=mine.identifier) == mine
        assert list(selectors.sendings_for_user(user=user)) == [mine]


def test_outsider_gets_nothing_of_another_subaccount(outsider, subaccount, mine, theirs):
    assert subaccount not in subaccounts_for_user(user=outsider)
    assert list(selectors.sendings_for_user(user=outsider)) == [theirs]
    with pytest.raises(Http404):
        selectors.sending_get(user=outsider, identifier=mine.identifier)
    with pytest.raises(Http404):
        membership_get(user=outsider, subaccount_id=subaccount.pk)


def test_anonymous_and_memberless_users_get_nothing(subaccount, mine):
    for user in (AnonymousUser(), UserFactory()):
        assert not subaccounts_for_user(user=user).exists()
        assert not selectors.sendings_for_user(user=user).exists()
        with pytest.raises(Http404):
            selectors.sending_get(user=user, identifier=mine.identifier)


def test_a_user_in_two_subaccounts_sees_both(marketer, subaccount, other_subaccount, mine, theirs):
    MembershipFactory(user=marketer, subaccount=other_subaccount)

    assert set(selectors.sendings_for_user(user=marketer)) == {mine, theirs}
    assert set(subaccounts_for_user(user=marketer)) == {subaccount, other_subaccount}


def test_membership_get_tells_viewer_from_marketer(marketer, viewer, subaccount):
    assert membership_get(user=marketer, subaccount_id=subaccount.pk).can_act
    assert not membership_get(user=viewer, subaccount_id=subaccount.pk).can_act
