"""Fees, receipts and cash sessions in the Django admin, read only (District
Administrators): every change to money goes through fines.services, with its locks, keys
and log, so the admin offers none."""

from django.contrib import admin

from fines.models import BursarExport, CashSession, Fee, FeeTransaction, Receipt
from security.admin import PolicyAdmin, ReadOnly


class ReadOnlyAdmin(ReadOnly, PolicyAdmin):
    pass


class FeeTransactionInline(ReadOnly, admin.TabularInline):
    model = FeeTransaction
    fk_name = "fee"
    fields = ["at", "kind", "amount", "balance_after", "payment_method", "waive_reason", "by_name"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Fee)
class FeeAdmin(ReadOnlyAdmin):
    list_display = [
        "patron",
        "fee_type",
        "status",
        "original_amount",
        "remaining",
        "owner_site",
        "created_at",
    ]
    list_filter = ["status", "fee_type", "owner_site"]
    list_select_related = ["patron", "fee_type", "owner_site"]
    search_fields = ["patron__barcode", "patron__last_name", "item_barcode"]
    inlines = [FeeTransactionInline]


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ["site", "number", "kind", "patron_name", "total", "payment_method", "at"]
    list_filter = ["site", "kind", "payment_method"]
    list_select_related = ["site", "payment_method"]


@admin.register(CashSession)
class CashSessionAdmin(ReadOnlyAdmin):
    list_display = [
        "site",
        "operator_name",
        "opened_at",
        "closed_at",
        "opening_float",
        "expected",
        "counted",
    ]
    list_filter = ["site"]
    list_select_related = ["site"]


@admin.register(BursarExport)
class BursarExportAdmin(ReadOnlyAdmin):
    list_display = ["at", "patron", "total", "reversed_at"]
    list_select_related = ["patron"]
