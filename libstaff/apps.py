from django.apps import AppConfig


class LibStaffConfig(AppConfig):
    """The project's own plumbing shared by every app: the model choice iterator and the
    `{% jinja %}` tag."""

    name = "libstaff"
    verbose_name = "LibStaff"

    def ready(self):
        from libstaff import choices

        choices.install()
