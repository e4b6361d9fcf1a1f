import pytest

from sendings.models import Sending

S, G, T, C, P = "scheduled", "sending", "sent", "canceled", "paused"


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        ([], "draft"),
        ([S], "scheduled"),
        ([S, S, S], "scheduled"),
        ([T, S, S], "scheduled"),
        ([C, S], "scheduled"),
        ([G], "sending"),
        ([T, G, S], "sending"),
        ([C, G], "sending"),
        ([P], "paused"),
        ([T, P, S], "paused"),
        ([C, P], "paused"),
        ([P, G], "sending"),
        ([T], "sent"),
        ([T, T, T], "sent"),
        ([C], "canceled"),
        ([T, C, C], "canceled"),
        ([C, T], "canceled"),
    ],
)
def test_sending_status_follows_the_design_table(batches, expected):
    assert Sending.status_for_batches(batches) == expected
