from django.apps import AppConfig


class FinesConfig(AppConfig):
    name = "fines"
    verbose_name = "Fines and fees"

    def ready(self):
        from fines import debt
        from fines import deletion as fines_deletion
        from fines import merging as fines_merging
        from fines.views.tab import fines_tab
        from patrons import deletion, merging, system_blocks, tabs

        system_blocks.register(debt.PROVIDER)
        _register_preference_lists()
        tabs.register(
            tabs.Tab(
                "fines",
                "Fines",
                "fines/tab.html",
                fines_tab,
                order=85,
                edit_action="fines.pay_fee",
                view_action="fines.view_fee",
            )
        )
        deletion.register(fines_deletion.KEY, fines_deletion.refusals)
        deletion.register_filter(
            fines_deletion.KEY, fines_deletion.without_balance, reason=fines_deletion.REASON
        )
        merging.register(
            fines_merging.KEY,
            merging.Mover(
                fines_merging.move,
                fines_merging.preview,
                handles=fines_merging.HANDLES,
                count=fines_merging.count,
                label="Fees and credits",
            ),
        )


def _register_preference_lists():
    from fines.models import FeeType, PaymentMethod, WaiveReason
    from security import preference_lists
    from security.preference_lists import PreferenceList

    for entry in [
        PreferenceList(
            "fee-types",
            "Fee types",
            FeeType,
            "What a fee is for: overdue, lost item... A credit type adds credit.",
            extra_fields=("default_amount", "is_credit"),
        ),
        PreferenceList("waive-reasons", "Waive reasons", WaiveReason, "Why a fee is waived."),
        PreferenceList(
            "payment-methods",
            "Payment methods",
            PaymentMethod,
            "How patrons pay: cash (which needs a cash session), card...",
            extra_fields=("is_cash",),
        ),
    ]:
        preference_lists.register(entry)
