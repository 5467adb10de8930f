from django.apps import AppConfig


class PatronsConfig(AppConfig):
    name = "patrons"
    verbose_name = "Patrons"

    def ready(self):
        from patrons import tabs
        from patrons.views import access, contact, personal

        for tab in [
            tabs.Tab(
                "personal",
                "Personal",
                "patrons/tabs/personal.html",
                personal.personal_tab,
                order=10,
                edit_action="patrons.edit_personal",
            ),
            tabs.Tab(
                "contact",
                "Contact",
                "patrons/tabs/contact.html",
                contact.contact_tab,
                order=20,
                edit_action="patrons.edit_contact",
            ),
            tabs.Tab(
                "access",
                "Access",
                "patrons/tabs/access.html",
                access.access_tab,
                order=30,
                edit_action="patrons.edit_access",
            ),
        ]:
            tabs.register(tab)
