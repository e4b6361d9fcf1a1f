"""Tenant isolation: a user outside a subaccount gets nothing of it."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from sendings import selectors
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
        assert list(selectors.subaccounts_for_user(user=user)) == [subaccount]
        assert list(selectors.sending_list(user=user, subaccount_id=subaccount.pk)) == [mine]
        assert selectors.sending_get(user=user, identifier=mine.identifier) == mine
        assert list(selectors.sendings_for_user(user=user)) == [mine]


def test_outsider_gets_nothing_of_another_subaccount(outsider, subaccount, mine, theirs):
    assert subaccount not in selectors.subaccounts_for_user(user=outsider)
    assert list(selectors.sendings_for_user(user=outsider)) == [theirs]
    with pytest.raises(Http404):
        selectors.sending_list(user=outsider, subaccount_id=subaccount.pk)
    with pytest.raises(Http404):
        selectors.sending_get(user=outsider, identifier=mine.identifier)
    with pytest.raises(Http404):
        selectors.membership_get(user=outsider, subaccount_id=subaccount.pk)


def test_anonymous_and_memberless_users_get_nothing(subaccount, mine):
    for user in (AnonymousUser(), UserFactory()):
        assert not selectors.subaccounts_for_user(user=user).exists()
        assert not selectors.sendings_for_user(user=user).exists()
        with pytest.raises(Http404):
            selectors.sending_get(user=user, identifier=mine.identifier)


def test_a_user_in_two_subaccounts_sees_both(marketer, subaccount, other_subaccount, mine, theirs):
    MembershipFactory(user=marketer, subaccount=other_subaccount)

    assert set(selectors.sendings_for_user(user=marketer)) == {mine, theirs}
    overview = {s.name: s.draft for s in selectors.subaccount_overview_for_user(user=marketer)}
    assert overview == {subaccount.name: 1, other_subaccount.name: 1}


def test_membership_get_tells_viewer_from_marketer(marketer, viewer, subaccount):
    assert selectors.membership_get(user=marketer, subaccount_id=subaccount.pk).can_act
    assert not selectors.membership_get(user=viewer, subaccount_id=subaccount.pk).can_act
