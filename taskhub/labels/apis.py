"""Labels of the caller's organization: names and colours that tasks carry."""

from django.urls import path

from taskhub.core.schema import ADMIN, MEMBER, VIEWER
from taskhub.labels.selectors import label_list
from taskhub.labels.serializers import LabelCreateInputSerializer, LabelSerializer, LabelUpdateInputSerializer
from taskhub.labels.services import label_create, label_delete, label_update
from taskhub.tenancy.resources import Operation, ResourcePermissions, TenantDetailApi, TenantListApi

PERMISSIONS = ResourcePermissions(read="label.read", write="label.write", delete="label.delete")
NAME_TAKEN = "400 `name_taken` (on `name`) for a name another label of the organization has, whatever its case"
STALE = "412 `precondition_failed` for a stale `If-Match`"


class LabelListApi(TenantListApi):
    selector = label_list
    permissions = PERMISSIONS
    # Under the tasks tag, as the labels of issues are in most trackers (a tag of its own needs a
    # description in config/settings/base.py, outside this app).
    tag = "labels"
    serializer_class = LabelSerializer
    create_input = LabelCreateInputSerializer
    create_service = label_create
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    # A picker reads labels alphabetically; ?ordering=-created_at for the newest first.
    ordering = ("name", "pk")
    operations = {
        "get": Operation(
            "List the organization's labels",
            VIEWER,
            "Lists the organization's labels by name unless `ordering` says otherwise, cursor-paginated. "
            "`search` finds labels whose name contains it, whatever the case.",
            "400 `invalid` for an ordering or `page_size` that does not parse.",
        ),
        "post": Operation(
            "Create a label",
            MEMBER,
            "Creates a label with a `name` (unique in the organization, whatever its case) and a `color` "
            "(`#RRGGBB`, kept in lower case). Tasks then carry it through their `labels`. The creation is audited.",
            f"{NAME_TAKEN}.",
        ),
    }


class LabelDetailApi(TenantDetailApi):
    selector = label_list
    permissions = PERMISSIONS
    # Under the tasks tag, as the labels of issues are in most trackers (a tag of its own needs a
    # description in config/settings/base.py, outside this app).
    tag = "labels"
    serializer_class = LabelSerializer
    update_input = LabelUpdateInputSerializer
    update_service = label_update
    delete_service = label_delete
    operations = {
        "get": Operation(
            "Show a label",
            VIEWER,
            "Shows one label of the organization, with a strong `ETag` to send back as `If-Match`.",
            "404 for a label of another organization.",
        ),
        "put": Operation(
            "Replace a label",
            MEMBER,
            "Replaces the label's name, colour and description; the tasks carrying it keep it.",
            f"{NAME_TAKEN}; 404; {STALE}.",
        ),
        "patch": Operation(
            "Update some of a label's fields",
            MEMBER,
            "Changes the fields sent (rename, recolour) and leaves the others; the tasks carrying it keep it.",
            f"{NAME_TAKEN}; 404; {STALE}.",
        ),
        "delete": Operation(
            "Delete a label and take it off every task",
            ADMIN,
            "Deletes the label and takes it off every task that carries it; those tasks' `updated_at` does not "
            "change. Answers 204.",
            f"403 below admin; 404; {STALE}.",
        ),
    }


urlpatterns = [
    path("labels/", LabelListApi.as_view(), name="label-list"),
    path("labels/<uuid:id>/", LabelDetailApi.as_view(), name="label-detail"),
]
