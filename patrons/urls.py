from django.urls import path

from patrons.views import attachments, delete, personal, record, register, search

app_name = "patrons"
urlpatterns = [
    path("", search.patron_list, name="list"),
    path("new/", register.patron_register, name="register"),
    path("<int:pk>/", record.patron_record, name="record"),
    path("<int:pk>/delete/", delete.patron_delete, name="delete"),
    path("<int:pk>/photo/", personal.patron_photo, name="photo"),
    path(
        "<int:pk>/attachments/<int:attachment_id>/",
        attachments.attachment_download,
        name="attachment",
    ),
    path("<int:pk>/<slug:tab>/", record.patron_tab, name="tab"),
]
