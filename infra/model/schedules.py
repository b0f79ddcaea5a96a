"""The catalog's one schedule form, converted per target: Airbyte's Quartz cron and Kubernetes cron.

    quartz_cron(Schedule(every="30m"))            -> "0 0/30 * * * ?"
    kubernetes_cron(Schedule(every="1d", at="01:00")) -> "0 1 * * *"

Quartz has a seconds field first and needs `?` in one of day-of-month / day-of-week; Kubernetes CronJobs take
the five-field Unix form. `continuous` (log-based CDC that should follow the source closely) becomes the most
frequent schedule Airbyte accepts: once a minute, seconds fixed at 0 (Airbyte rejects expressions that fire more
than once a minute). A sync still running when the next one is due makes Airbyte wait for it, so in effect the
connection syncs back to back. Kubernetes has no `continuous`: a CronJob for it runs every minute as well.
"""

from __future__ import annotations

from infra.model.catalog import Schedule

MOST_FREQUENT_QUARTZ = "0 * * * * ?"
MOST_FREQUENT_KUBERNETES = "* * * * *"


def _fields(schedule: Schedule) -> tuple[str, str] | None:
    """(minute, hour) fields shared by both targets; None for `continuous`."""
    if schedule.every == "continuous":
        return None
    count, unit = int(schedule.every[:-1]), schedule.every[-1]
    if unit == "m":
        return ("*" if count == 1 else f"0/{count}"), "*"
    if unit == "h":
        return "0", ("*" if count == 1 else f"0/{count}")
    hour, minute = (schedule.at or "00:00").split(":")
    return str(int(minute)), str(int(hour))


def quartz_cron(schedule: Schedule) -> str:
    """Airbyte's cron: `sec min hour day-of-month month day-of-week` (Quartz)."""
    fields = _fields(schedule)
    if fields is None:
        return MOST_FREQUENT_QUARTZ
    minute, hour = fields
    return f"0 {minute} {hour} * * ?"


def kubernetes_cron(schedule: Schedule) -> str:
    """A CronJob's schedule: `min hour day-of-month month day-of-week`; `0/N` is written `*/N`."""
    fields = _fields(schedule)
    if fields is None:
        return MOST_FREQUENT_KUBERNETES
    minute, hour = (field.replace("0/", "*/") for field in fields)
    return f"{minute} {hour} * * *"
