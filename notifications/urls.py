from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("clinic/notifications", views.preferences, name="preferences"),
    path("clinic/webhooks", views.endpoints, name="webhooks"),
    path("clinic/webhooks/new", views.create_endpoint, name="webhook-create"),
    path("clinic/webhooks/<int:endpoint_id>", views.endpoint_detail, name="webhook"),
    path("clinic/webhooks/<int:endpoint_id>/test", views.send_test, name="webhook-test"),
    path("clinic/webhooks/<int:endpoint_id>/toggle", views.toggle, name="webhook-toggle"),
    path("clinic/webhooks/<int:endpoint_id>/delete", views.delete, name="webhook-delete"),
    path(
        "clinic/webhooks/<int:endpoint_id>/deliveries/<int:message_id>/redeliver",
        views.redeliver,
        name="webhook-redeliver",
    ),
]
