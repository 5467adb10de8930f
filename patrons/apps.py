from django.apps import AppConfig


class PatronsConfig(AppConfig):
    name = "patrons"
    verbose_name = "Patrons"

    def ready(self):
        from patrons import tabs
        from patrons.views import (
            access,
            attachments,
            blocks,
            contact,
            history,
            identifiers,
            notes,
            personal,
            proxies,
            statistics,
        )

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
            tabs.Tab(
                "notes",
                "Notes",
                "patrons/tabs/notes.html",
                notes.notes_tab,
                order=40,
                edit_action="patrons.edit_notes",
            ),
            tabs.Tab(
                "blocks",
                "Blocks",
                "patrons/tabs/blocks.html",
                blocks.blocks_tab,
                order=50,
                edit_action="patrons.edit_blocks",
            ),
            tabs.Tab(
                "identifiers",
                "Identifiers",
                "patrons/tabs/identifiers.html",
                identifiers.identifiers_tab,
                order=60,
                edit_action="patrons.edit_personal",
            ),
            tabs.Tab(
                "statistics",
                "Statistics",
                "patrons/tabs/statistics.html",
                statistics.statistics_tab,
                order=65,
                edit_action="patrons.edit_personal",
            ),
            tabs.Tab(
                "programs",
                "Programs",
                "patrons/tabs/programs.html",
                statistics.programs_tab,
                order=70,
                edit_action="patrons.edit_personal",
            ),
            tabs.Tab(
                "proxies",
                "Proxies",
                "patrons/tabs/proxies.html",
                proxies.proxies_tab,
                order=75,
                edit_action="patrons.edit_personal",
            ),
            tabs.Tab(
                "attachments",
                "Attachments",
                "patrons/tabs/attachments.html",
                attachments.attachments_tab,
                order=80,
                edit_action="patrons.edit_personal",
            ),
            tabs.Tab(
                "history",
                "History",
                "patrons/tabs/history.html",
                history.history_tab,
                order=900,
                edit_action=None,
                view_action="patrons.view_patron",
            ),
        ]:
            tabs.register(tab)
