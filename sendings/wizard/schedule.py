"""The wizard's step 6, Schedule sending: times typed in the subaccount's zone, turned into
batch plans for `sending_confirm`."""

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from sendings.fields import BoundedDateField, WholeNumberField, whole_number
from sendings.formatting import month_abbr, month_name, thousands
from sendings.services import MAX_BATCHES, BatchPlan
from sendings.wizard.forms import WizardStepForm

# Step 6. Times are typed in the subaccount's time zone.
SCHEDULE_MODES = [
    ("now", gettext_lazy("Send now")),
    ("at", gettext_lazy("Schedule sending")),
    ("batches", gettext_lazy("Send in batches")),
    ("split", gettext_lazy("Send in batches, split evenly")),
]
INTERVAL_UNITS = [
    ("minutes", pgettext_lazy("interval unit", "minutes")),
    ("hours", pgettext_lazy("interval unit", "hours")),
    ("days", pgettext_lazy("interval unit", "days")),
]
DATE_FIELD = BoundedDateField(input_formats=["%Y-%m-%d"])
TIME_FIELD = forms.TimeField(input_formats=["%H:%M", "%H:%M:%S"])
MIN_ROWS = 2
MAX_ROWS = MAX_BATCHES
# How far ahead a batch may be scheduled: far enough for any campaign, near enough that no
# date arithmetic overflows.
MAX_AHEAD = timedelta(days=5 * 366)
MAX_EVERY = 10_000


def date_field(label: str) -> forms.DateField:
    """A date as the browser's date input sends it (YYYY-MM-DD), in a sane window."""
    return BoundedDateField(
        label=label,
        required=False,
        input_formats=DATE_FIELD.input_formats,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


def time_field(label: str) -> forms.TimeField:
    """A time as the browser's time input sends it (HH:MM, or HH:MM:SS)."""
    return forms.TimeField(
        label=label,
        required=False,
        input_formats=TIME_FIELD.input_formats,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )


def local_datetime(day: date, at: time, zone: zoneinfo.ZoneInfo) -> datetime:
    """`day` at `at` on the clocks of `zone`, as an aware datetime.

    A time skipped when clocks go forward does not exist: ValidationError. A time that
    happens twice when clocks go back is taken at its first occurrence (`fold=0`, before
    the change), the earlier of the two moments (docs/decisions.md).
    """
    wall = datetime.combine(day, at)
    aware = wall.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        shown = f"{wall.day} {month_name(wall.month)} {wall.year} {wall:%H:%M}"
        raise forms.ValidationError(
            _("%(moment)s does not exist in %(zone)s (clocks go forward).")
            % {"moment": shown, "zone": zone.key}
        )
    return aware


def _typed(value: object) -> str:
    """What was typed in a schedule input, as kept in the draft: at most 20 characters,
    control characters dropped (a NUL cannot be stored in PostgreSQL's JSON)."""
    return "".join(char for char in str(value) if char.isprintable()).strip()[:20]


def _shown(moment: datetime, zone: zoneinfo.ZoneInfo) -> str:
    """ "1 Dec 2026 10:00" ("1 dic 2026 10:00") on the clocks of `zone`."""
    local = moment.astimezone(zone)
    return f"{local.day} {month_abbr(local.month)} {local.year} {local:%H:%M}"


class SendingScheduleForm(WizardStepForm):
    """When to send: now (after the undo delay), at a time, in batches, or split evenly.

    Valid, it carries `plans` (BatchPlans for `sending_confirm`) whose sizes add up to the
    `audience` counted now; `sending_confirm` counts again under its lock and refuses a
    difference rather than resizing silently.
    """

    mode = forms.ChoiceField(
        label=gettext_lazy("When to send"),
        choices=SCHEDULE_MODES,
        widget=forms.RadioSelect,
        error_messages={"required": gettext_lazy("Choose when to send.")},
    )
    date = date_field(gettext_lazy("Date"))
    time = time_field(pgettext_lazy("clock time", "Time"))
    split_count = WholeNumberField(
        label=gettext_lazy("Number of batches"), required=False, min_value=2, max_value=MAX_BATCHES
    )
    split_date = date_field(gettext_lazy("First batch on"))
    split_time = time_field(pgettext_lazy("first batch on <date> at <time>", "at"))
    split_every = WholeNumberField(
        label=gettext_lazy("One batch every"), required=False, min_value=1, max_value=MAX_EVERY
    )
    split_unit = forms.ChoiceField(
        label=gettext_lazy("Unit"), choices=INTERVAL_UNITS, required=False, initial="hours"
    )

    SCALARS = ("mode", "date", "time", "split_count", "split_date", "split_time",
               "split_every", "split_unit")  # fmt: skip

    def __init__(
        self,
        data=None,
        *,
        zone: zoneinfo.ZoneInfo,
        now: datetime,
        audience: int,
        undo_seconds: int,
        rows: list[dict] | None = None,
        **kwargs,
    ):
        super().__init__(data, **kwargs)
        self.zone, self.now, self.audience = zone, now, audience
        self.undo_seconds, self.max_batches = undo_seconds, MAX_BATCHES
        if rows is None:
            rows = self.rows_of(data) if data is not None else []
        self.rows = rows or [{"date": "", "time": "", "count": ""} for _ in range(MIN_ROWS)]
        self.row_errors: list[list[str]] = [[] for _ in self.rows]
        self.plans: list = []

    @staticmethod
    def rows_of(data) -> list[dict]:
        """The batch rows as typed: each name repeated once per row."""
        columns = [data.getlist(f"batch_{key}") for key in ("date", "time", "count")]
        size = max(len(column) for column in columns)
        return [
            {
                key: _typed(column[i] if i < len(column) else "")
                for key, column in zip(("date", "time", "count"), columns, strict=True)
            }
            for i in range(min(size, MAX_ROWS))
        ]

    @property
    def batch_rows(self) -> list[dict]:
        """The rows as typed, numbered from 1, with their errors (for the template)."""
        return [
            {**row, "number": number, "errors": errors}
            for number, (row, errors) in enumerate(zip(self.rows, self.row_errors, strict=True), 1)
        ]

    @classmethod
    def draft_of(cls, data) -> dict:
        """What was typed, for Sending.schedule_draft (plain strings, valid or not)."""
        draft = {name: _typed(data.get(name, "")) for name in cls.SCALARS}
        draft["rows"] = cls.rows_of(data)
        return draft

    def clean(self):
        cleaned = super().clean()
        mode = cleaned.get("mode")
        if not mode:
            return cleaned
        if not self.audience:
            raise forms.ValidationError(
                _(
                    "Nobody to send to yet: choose lists with subscribed contacts in step 5, "
                    "Contacts."
                ),
                code="empty_audience",
            )
        if mode == "now":
            at = self.now + timedelta(seconds=self.undo_seconds)
            self.plans = [BatchPlan(scheduled_at=at)]
        elif mode == "at":
            at = self._moment(cleaned, "date", "time")
            if at is not None:
                self.plans = [BatchPlan(scheduled_at=at)]
        elif mode == "batches":
            self.plans = self._rows_plans()
        else:
            self.plans = self._split_plans(cleaned)
        return cleaned

    def _moment(self, cleaned: dict, date_name: str, time_name: str) -> datetime | None:
        day, at = cleaned.get(date_name), cleaned.get(time_name)
        if day is None and date_name not in self.errors:
            self.add_error(date_name, _("Choose a date."))
        if at is None and time_name not in self.errors:
            self.add_error(time_name, _("Choose a time."))
        if day is None or at is None:
            return None
        try:
            moment = local_datetime(day, at, self.zone)
        except forms.ValidationError as error:
            self.add_error(time_name, error)
            return None
        if moment <= self.now:
            self.add_error(time_name, self._past(moment))
            return None
        if moment - self.now > MAX_AHEAD:
            self.add_error(date_name, self._too_far())
            return None
        return moment

    def _too_far(self) -> str:
        return _("That is more than %(years)s years ahead; choose a date before %(moment)s.") % {
            "years": MAX_AHEAD.days // 366,
            "moment": _shown(self.now + MAX_AHEAD, self.zone),
        }

    def _past(self, moment: datetime) -> str:
        return _(
            "%(moment)s is in the past (it is now %(now)s in %(zone)s). Choose a later time."
        ) % {
            "moment": _shown(moment, self.zone),
            "now": _shown(self.now, self.zone),
            "zone": self.zone.key,
        }

    def _rows_plans(self) -> list:
        if len(self.rows) < MIN_ROWS:
            self.add_error(
                None,
                _("Sending in batches needs at least two batches; for one, choose “%(mode)s”.")
                % {"mode": SCHEDULE_MODES[1][1]},
            )
            return []
        if len(self.rows) > self.max_batches:
            self.add_error(
                None,
                _("A sending can have at most %(count)s batches.") % {"count": self.max_batches},
            )
            return []
        plans, previous = [], None
        for number, (row, errors) in enumerate(zip(self.rows, self.row_errors, strict=True), 1):
            moment = count = None
            try:
                day = DATE_FIELD.clean(row["date"]) if row["date"] else None
                at = TIME_FIELD.clean(row["time"]) if row["time"] else None
            except forms.ValidationError:
                errors.append(_("Enter the date as YYYY-MM-DD and the time as HH:MM."))
                day = at = None
            else:
                if day is None:
                    errors.append(_("Choose a date."))
                if at is None:
                    errors.append(_("Choose a time."))
            if day is not None and at is not None:
                try:
                    moment = local_datetime(day, at, self.zone)
                except forms.ValidationError as error:
                    errors.extend(error.messages)
                else:
                    if moment <= self.now:
                        errors.append(self._past(moment))
                        moment = None
                    elif moment - self.now > MAX_AHEAD:
                        errors.append(self._too_far())
                        moment = None
            if moment is not None and previous is not None and moment <= previous:
                errors.append(
                    _("Batch %(number)s must go out after batch %(previous)s (%(moment)s).")
                    % {
                        "number": number,
                        "previous": number - 1,
                        "moment": _shown(previous, self.zone),
                    }
                )
            previous = moment or previous
            if not row["count"]:
                errors.append(_("Enter a number of contacts."))
            elif (count := whole_number(row["count"], minimum=0)) is None:
                errors.append(_("The number of contacts must be a whole number."))
            elif count < 1:
                errors.append(_("A batch needs at least 1 contact."))
            if not errors:
                plans.append(BatchPlan(scheduled_at=moment, recipient_count=count))
        if any(self.row_errors):
            self.add_error(None, _("Some batches need fixing: see the messages beside them."))
            return []
        if len(plans) > self.audience:
            self.add_error(None, self._too_many(len(plans)))
            return []
        planned = sum(plan.recipient_count for plan in plans)
        if planned != self.audience:
            self.add_error(
                None,
                _(
                    "The batches add up to %(planned)s contacts but the audience has "
                    "%(audience)s. Adjust the numbers so they add up exactly."
                )
                % {"planned": thousands(planned), "audience": thousands(self.audience)},
            )
            return []
        return plans

    def _too_far_split(self, count: int) -> str:
        return _(
            "The last of %(count)s batches would go out more than %(years)s years ahead (after "
            "%(moment)s): choose fewer batches or a shorter interval."
        ) % {
            "count": count,
            "years": MAX_AHEAD.days // 366,
            "moment": _shown(self.now + MAX_AHEAD, self.zone),
        }

    def _too_many(self, batches: int) -> str:
        return _(
            "%(batches)s batches for %(audience)s contacts: every batch needs at least one "
            "contact. Choose fewer batches."
        ) % {"batches": batches, "audience": thousands(self.audience)}

    def _split_plans(self, cleaned: dict) -> list:
        start = self._moment(cleaned, "split_date", "split_time")
        count, every = cleaned.get("split_count"), cleaned.get("split_every")
        unit = cleaned.get("split_unit") or "hours"
        if count is None and "split_count" not in self.errors:
            self.add_error("split_count", _("Enter a number of batches."))
        if every is None and "split_every" not in self.errors:
            self.add_error("split_every", _("Enter how far apart the batches go out."))
        if count is not None and count > self.audience:
            self.add_error("split_count", self._too_many(count))
            return []
        if start is None or count is None or every is None:
            return []
        # Checked before any date arithmetic, which would overflow past year 9999.
        if timedelta(**{unit: (count - 1) * every}) > self.now + MAX_AHEAD - start:
            self.add_error("split_every", self._too_far_split(count))
            return []
        moments = []
        for index in range(count):
            if unit == "days":  # the same time on the clock each day, across DST changes
                day = start.astimezone(self.zone).date() + timedelta(days=index * every)
                try:
                    moments.append(local_datetime(day, cleaned["split_time"], self.zone))
                except forms.ValidationError as error:
                    self.add_error(
                        "split_every",
                        _("Batch %(number)s: %(error)s")
                        % {"number": index + 1, "error": error.messages[0]},
                    )
                    return []
            else:
                moments.append(start + timedelta(**{unit: index * every}))
        size, extra = divmod(self.audience, count)
        return [
            # The last batch takes everyone left, so a plan made on this count stays exact.
            BatchPlan(
                scheduled_at=moment,
                recipient_count=None if index == count - 1 else size + (index < extra),
            )
            for index, moment in enumerate(moments)
        ]
