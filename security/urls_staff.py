"""The staff pages of the security app, under /staff/security/ (namespace "security")."""

from django.urls import path

from security.views import delegations, grants, groups, two_factor, working_site
from security.views import log as operator_log

app_name = "security"
urlpatterns = [
    path("groups/", groups.group_list, name="groups"),
    path("groups/new/", groups.group_create, name="group_create"),
    path("groups/<int:pk>/", groups.group_detail, name="group"),
    path("groups/<int:pk>/delete/", groups.group_delete, name="group_delete"),
    path(
        "groups/<int:pk>/delegations/",
        delegations.delegation_create,
        name="delegation_create",
    ),
    path(
        "groups/<int:pk>/delegations/<int:delegation_id>/revoke/",
        delegations.delegation_revoke,
        name="delegation_revoke",
    ),
    path("log/", operator_log.operator_log, name="log"),
    path("log/export/", operator_log.operator_log_export, name="log_export"),
    path("grants/", grants.grant_list, name="grants"),
    path("grants/new/", grants.grant_create, name="grant_create"),
    path("grants/<int:pk>/revoke/", grants.grant_revoke, name="grant_revoke"),
    path("working-site/", working_site.working_site_choose, name="working_site"),
    path("two-factor/<int:pk>/reset/", two_factor.two_factor_reset, name="two_factor_reset"),
]
