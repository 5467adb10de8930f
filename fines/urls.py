from django.urls import path

from fines.views import cash, receipts, tab

app_name = "fines"
urlpatterns = [
    path("cash/", cash.cash_session, name="cash"),
    path("cash/report/", cash.cash_report, name="cash_report"),
    path("receipts/<int:pk>/", receipts.receipt_detail, name="receipt"),
    path("bursar/<int:pk>/csv/", tab.bursar_csv, name="bursar_csv"),
]
