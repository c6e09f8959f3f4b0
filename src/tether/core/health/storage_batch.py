"""Built-in rules for storage and batch kinds: PersistentVolumeClaim, Job, CronJob."""

from __future__ import annotations

from tether.core.paths import ObjView

from .readers import conditions, describe, integer, is_status, section, timestamp
from .status import ResourceHealth, degraded, healthy, progressing, suspended, unknown


def pvc_health(obj: ObjView) -> ResourceHealth:
    phase = str(section(obj, "status").get("phase") or "")
    if phase == "Bound":
        return healthy()
    # No phase yet: the claim was just created (kstatus: InProgress).
    if phase in ("Pending", ""):
        return progressing("Waiting for the claim to be bound to a volume")
    if phase == "Lost":
        return degraded("The bound volume no longer exists")
    return unknown(f"Claim phase is {phase}")


def job_health(obj: ObjView) -> ResourceHealth:
    status = section(obj, "status")
    found = conditions(status)
    # FailureTarget / SuccessCriteriaMet (Kubernetes >= 1.31) announce the final state
    # before the terminal Failed / Complete condition is written.
    for failed_type in ("Failed", "FailureTarget"):
        if is_status(found.get(failed_type), "True"):
            return degraded(describe(found[failed_type], "Job failed"))
    for done_type in ("Complete", "SuccessCriteriaMet"):
        if is_status(found.get(done_type), "True"):
            return healthy(describe(found[done_type]))
    if section(obj, "spec").get("suspend") is True or is_status(found.get("Suspended"), "True"):
        return suspended("Job is suspended")
    active, succeeded = integer(status, "active"), integer(status, "succeeded")
    return progressing(f"Job is running: {active} active, {succeeded} succeeded")


def cronjob_health(obj: ObjView) -> ResourceHealth:
    status = section(obj, "status")
    if section(obj, "spec").get("suspend") is True:
        return suspended("CronJob is suspended")
    last_schedule = timestamp(status.get("lastScheduleTime"))
    if last_schedule is None:
        return healthy("CronJob has not been scheduled yet")
    active = status.get("active")
    if isinstance(active, list) and active:
        return healthy(f"CronJob has {len(active)} active job(s)")
    # With no job running, the last scheduled run succeeded iff the last success is not
    # older than it. Kubernetes >= 1.21 always records lastSuccessfulTime.
    last_success = timestamp(status.get("lastSuccessfulTime"))
    if last_success is None:
        return degraded("CronJob has never completed a run successfully")
    if last_success < last_schedule:
        return degraded(
            f"The last run scheduled at {status['lastScheduleTime']} did not succeed "
            f"(last success at {status['lastSuccessfulTime']})"
        )
    return healthy()
