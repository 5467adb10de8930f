from django.urls import path

from patrons.views import (
    attachments,
    delete,
    export,
    importing,
    merge,
    personal,
    photos,
    purge,
    record,
    register,
    search,
    usernames,
)

app_name = "patrons"
urlpatterns = [
    path("", search.patron_list, name="list"),
    path("new/", register.patron_register, name="register"),
    path("export/", export.patron_export, name="export"),
    path("import/", importing.import_start, name="import"),
    path("import/<uuid:run_id>/", importing.import_run, name="import_run"),
    path("import/<uuid:run_id>/progress/", importing.import_progress, name="import_progress"),
    path("import/<uuid:run_id>/apply/", importing.import_apply, name="import_apply"),
    path("import/<uuid:run_id>/discard/", importing.import_discard, name="import_discard"),
    path("import/<uuid:run_id>/invalid.csv", importing.import_invalid_csv, name="import_invalid"),
    path("merge/", merge.patron_merge, name="merge"),
    path("usernames/", usernames.bulk_usernames, name="usernames"),
    path("photos/", photos.photo_import, name="photos"),
    path("purge/", purge.patron_purge, name="purge"),
    path("<int:pk>/", record.patron_record, name="record"),
    path("<int:pk>/delete/", delete.patron_delete, name="delete"),
    path("<int:pk>/photo/", personal.patron_photo, name="photo"),
    path(
        "<int:pk>/imported/<slug:field>/revert/",
        personal.revert_imported_value,
        name="revert_imported",
    ),
    path(
        "<int:pk>/attachments/<int:attachment_id>/",
        attachments.attachment_download,
        name="attachment",
    ),
    path("<int:pk>/<slug:tab>/", record.patron_tab, name="tab"),
]
