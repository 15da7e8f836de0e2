"""The admin's home page as a dashboard (clients.sites.LTPLabsAdminSite.index asks for it)."""

from typing import Any

from django.utils.translation import gettext as _

from clients.legacy_time import now
from clients.selectors import dashboard

from .charts import column_chart, row_chart


def dashboard_context(request) -> dict[str, Any]:
    """The dashboard for a user who may view clients; the latest audit entries only for one who may view those."""
    if not request.user.has_perm("clients.view_client"):
        return {}
    at = now()
    data = dashboard.dashboard(at, with_audit=request.user.has_perm("clients.view_auditlog"))
    return {
        "dashboard": data,
        "can_extend": request.user.has_perm("clients.change_client"),
        "sign_ins_chart": column_chart(data["sign_ins"], title=_("Sign-ins per day, last 30 days"), label_every=5),
        "sign_ins_total": sum(bar.value for bar in data["sign_ins"]),
        "demo_opens_chart": row_chart(data["demo_opens"], title=_("Demo opens per demo, last 30 days")),
        "demo_opens_total": sum(bar.value for bar in data["demo_opens"]),
        "new_clients_chart": column_chart(data["new_clients"], title=_("New clients per month, last 12 months")),
    }
