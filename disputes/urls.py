from django.urls import path

from disputes import views

app_name = "disputes"

urlpatterns = [
    path("clinic/disputes", views.dispute_list, name="list"),
    path("clinic/disputes/create/<int:lead_id>", views.create_dispute, name="create"),
    path("clinic/disputes/<int:dispute_id>/cancel", views.cancel_dispute, name="cancel"),
    path("disputes/evidence/<int:evidence_id>", views.evidence_file, name="evidence"),
    path("admin/disputes", views.admin_dispute_queue, name="admin-queue"),
    path("admin/disputes/<int:dispute_id>/resolve", views.admin_resolve, name="admin-resolve"),
]
